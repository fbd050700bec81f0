"""Links in messages, PDFs and jobs: real endpoints, always on PUBLIC_BASE_URL."""

from urllib.parse import urlsplit

import pytest
from werkzeug.routing import BuildError

from fixmyphone import links
from fixmyphone.services import in_app, notifications

from .factories import ServiceRequestFactory, UserFactory


def test_links_lead_to_the_real_pages_on_the_public_address(app, admin_client):
    request = ServiceRequestFactory()
    assert links.staff_request_url(request.id) == (
        f"http://shop.test/admin/requests/view/{request.id}"
    )
    assert links.back_office_url() == "http://shop.test/admin/"
    assert links.tracking_url(request) == f"http://shop.test/track/{request.tracking_token}"
    assert links.payments_url("needs_review") == (
        "http://shop.test/admin/payments/?flt1_status_equals=needs_review"
    )
    # The repair's page is really there: an admin opens it.
    page = urlsplit(links.staff_request_url(request.id)).path
    assert admin_client.get(page).status_code == 200


def test_a_request_from_another_host_does_not_change_the_address(app):
    request = ServiceRequestFactory()
    with app.test_request_context("/", base_url="http://10.0.0.7:8000"):
        assert links.tracking_url(request).startswith("http://shop.test/track/")


def test_a_base_address_with_a_path_keeps_it(app):
    app.config["PUBLIC_BASE_URL"] = "https://example.com/shop/"
    assert links.back_office_url() == "https://example.com/shop/admin/"


def test_an_unknown_page_is_an_error_not_a_guess(app):
    with pytest.raises(BuildError):
        links.external_url("admin_requests.no_such_page", request_id=1)


def test_staff_alerts_lead_to_the_repair_or_the_back_office(app):
    request = ServiceRequestFactory()
    UserFactory(role="admin")
    about_a_repair = notifications.alert_staff(
        "repair_overdue", dedup_key="o", service_request=request, channels=("in_app",)
    )[0]
    assert in_app.link_for(about_a_repair) == links.staff_request_url(request.id)
    general = notifications.alert_staff(
        "x", "Something", "to look at", dedup_key="g", channels=("in_app",)
    )[0]
    assert in_app.link_for(general) == links.back_office_url()
