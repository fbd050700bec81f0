"""Home page, tracking by reference/contact, the private link, the timeline and quotes."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import OpeningHours, StatusChange
from fixmyphone.services.billing import approvals
from fixmyphone.workflow import move_status

from .. import factories
from ..conftest import count_rows
from .conftest import post_form


def test_home_shows_services_hours_booking_and_tracking(client, app):
    db.session.merge(OpeningHours(weekday=0, opens_at=time(9), closes_at=time(18)))
    db.session.merge(OpeningHours(weekday=6, closed=True))
    response = client.get("/")
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "What we repair" in html and "Batteries" in html
    assert "09:00–18:00" in html and "Closed" in html
    assert 'href="/repair/new"' in html  # Book a repair
    assert 'action="/track"' in html and 'name="reference"' in html and 'name="contact"' in html
    assert 'name="csrf_token"' in html


def test_pages_load_only_local_assets(client):
    html = client.get("/").get_data(as_text=True)
    assert "http://" not in html.replace("http://localhost", "")
    assert "https://" not in html
    assert "<script>" not in html and " style=" not in html and "onclick" not in html


@pytest.mark.parametrize(
    "contact",
    ["USER@EXAMPLE.COM", "+1 555 0199", "(555) 0199-", "15550199"],
)
def test_track_by_reference_and_email_or_phone(client, app, contact):
    customer = factories.CustomerFactory(email="user@example.com")
    r = factories.ServiceRequestFactory(customer=customer)
    response = post_form(client, "/track", {"reference": r.reference.lower(), "contact": contact})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/track/{r.tracking_token}")


def test_reference_without_prefix_is_accepted(client, app):
    r = factories.ServiceRequestFactory()
    bare = r.reference.removeprefix("FMP-")
    response = post_form(client, "/track", {"reference": bare, "contact": r.customer.email})
    assert response.status_code == 302


def test_wrong_reference_or_contact_answer_the_same(client, app):
    r = factories.ServiceRequestFactory()
    other = factories.CustomerFactory()
    answers = []
    for reference, contact in [
        (r.reference, other.email),  # real reference, wrong email
        ("FMP-ZZZZZZ", r.customer.email),  # unknown reference, real email
        (r.reference, "+44 20 7946 0000"),  # wrong phone
        (r.reference, "0199"),  # too few digits to count as a phone
    ]:
        response = post_form(client, "/track", {"reference": reference, "contact": contact})
        answers.append((response.status_code, _error_text(response)))
    assert len(set(answers)) == 1
    assert answers[0][0] == 404
    assert "could not find a repair" in answers[0][1]


def _error_text(response) -> str:
    html = response.get_data(as_text=True)
    start = html.index('class="error"')
    return html[start : html.index("</p>", start)]


@pytest.mark.parametrize(
    "data",
    [{"reference": "", "contact": "a@b.c"}, {"reference": "FMP-ABCDEF", "contact": ""}, {}],
)
def test_track_form_requires_both_fields(client, app, data):
    response = post_form(client, "/track", data)
    assert response.status_code == 422
    assert "Enter" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("/track", {"reference": "FMP-ABCDEF", "contact": "a@b.c"}),
        ("/repair/new", {"device_type": "phone"}),
        ("/track/{token}/quote", {"decision": "approve"}),
        ("/track/{token}/messages", {"body": "hi"}),
    ],
)
def test_forms_need_csrf(client, app, url, data):
    r = factories.ServiceRequestFactory()
    response = client.post(url.format(token=r.tracking_token), data=data)
    assert response.status_code == 400


def test_track_form_is_rate_limited(client, app):
    app.config["TRACK_RATE_LIMIT"] = "3 per minute"
    codes = [
        post_form(client, "/track", {"reference": "FMP-AAAAAA", "contact": "x@y.z"}).status_code
        for _ in range(4)
    ]
    assert codes == [404, 404, 404, 429]


def test_private_link_shows_public_timeline_with_notes_and_technician(client, app):
    tech = factories.TechnicianFactory(full_name="Robin Fixer")
    admin = factories.UserFactory(role="admin")
    r = factories.ServiceRequestFactory()
    r.technician = tech
    move_status(r, "in_progress", admin, "Opened it up; the screen connector is loose.")
    move_status(r, "awaiting_parts", admin, "internal: supplier X is slow", public=False)
    r.estimated_completion = datetime(2030, 5, 6, 14, 30, tzinfo=UTC)
    db.session.commit()
    html = client.get(f"/track/{r.tracking_token}").get_data(as_text=True)
    assert "Pending" in html and "In Progress" in html
    assert "the screen connector is loose" in html
    assert "supplier X" not in html and "Awaiting Parts</strong>" not in html
    assert "Robin" in html and "Fixer" not in html  # first name only
    assert "Mon 06 May 2030, 14:30" in html  # estimated completion, localtime
    entries = count_rows(StatusChange, StatusChange.service_request_id == r.id)
    assert entries == 3


def test_times_are_shown_in_the_shop_time_zone(client, app):
    app.config["SHOP_TIMEZONE"] = "America/New_York"
    r = factories.ServiceRequestFactory()
    r.estimated_completion = datetime(2030, 1, 10, 15, 0, tzinfo=UTC)
    db.session.commit()
    html = client.get(f"/track/{r.tracking_token}").get_data(as_text=True)
    assert "Thu 10 Jan 2030, 10:00" in html


def test_unknown_private_link_is_404(client, app):
    response = client.get("/track/not-a-real-token")
    assert response.status_code == 404
    assert "could not find" in response.get_data(as_text=True)


def test_next_step_asks_to_book_when_pending(client, app):
    r = factories.ServiceRequestFactory()
    html = client.get(f"/track/{r.tracking_token}").get_data(as_text=True)
    assert "Book a time to drop your device off" in html


def test_ready_for_pickup_asks_to_pick_up(client, app):
    r = factories.ServiceRequestFactory(status="quality_check")
    move_status(r, "ready_for_pickup", None)
    db.session.commit()
    html = client.get(f"/track/{r.tracking_token}").get_data(as_text=True)
    assert "pick it up" in html


# ------------------------------------------------------------------ quotes


def _quoted(customer=None):
    admin = factories.UserFactory(role="admin")
    r = factories.ServiceRequestFactory(**({"customer": customer} if customer else {}))
    approvals.send_single_amount(r, amount=8900, details="New screen", actor=admin)
    db.session.commit()
    return r


def test_quote_is_shown_with_approve_and_decline(client, app):
    r = _quoted()
    html = client.get(f"/track/{r.tracking_token}").get_data(as_text=True)
    assert "New screen" in html and "$89.00" in html
    assert "Approve or decline the estimate" in html
    assert html.count(f'action="/track/{r.tracking_token}/quote"') == 2


@pytest.mark.parametrize(
    ("decision", "status", "quote_status"),
    # Approved before the device came in: the repair waits for it again (pending).
    [("approve", "pending", "approved"), ("decline", "canceled", "declined")],
)
def test_quote_decision_through_private_link(client, app, decision, status, quote_status):
    r = _quoted()
    page = f"/track/{r.tracking_token}"
    response = post_form(client, page, {"decision": decision}, url=page + "/quote")
    assert response.status_code == 302
    db.session.refresh(r)
    assert r.status == status and r.quote_status == quote_status
    assert r.quote_decided_at is not None
    assert r.history[-1].actor_id == r.customer_id


def test_quote_decision_from_the_account(customer_client, app, customer):
    r = _quoted(customer)
    page = f"/account/repairs/{r.id}"
    response = post_form(customer_client, page, {"decision": "approve"}, url=page + "/quote")
    assert response.status_code == 302
    db.session.refresh(r)
    assert r.status == "pending" and r.quote_status == "approved"


@pytest.mark.parametrize("decision", ["", "maybe", "APPROVE"])
def test_bad_quote_decisions_are_refused(client, app, decision):
    r = _quoted()
    page = f"/track/{r.tracking_token}"
    response = post_form(client, page, {"decision": decision}, url=page + "/quote")
    assert response.status_code == 422
    db.session.refresh(r)
    assert r.quote_status == "pending" and r.status == "on_hold"


def test_deciding_twice_is_a_conflict(client, app):
    r = _quoted()
    page = f"/track/{r.tracking_token}"
    post_form(client, page, {"decision": "approve"}, url=page + "/quote")
    response = post_form(client, page, {"decision": "decline"}, url=page + "/quote")
    assert response.status_code == 409
    assert "no estimate waiting" in response.get_data(as_text=True)
    db.session.refresh(r)
    assert r.quote_status == "approved"


def test_another_customers_quote_is_404(customer_client, app):
    r = _quoted()  # someone else's
    response = post_form(
        customer_client, "/account", {"decision": "approve"}, url=f"/account/repairs/{r.id}/quote"
    )
    assert response.status_code == 404
    db.session.refresh(r)
    assert r.quote_status == "pending"


def test_friendly_error_pages(client, app):
    def boom():
        raise RuntimeError("kaboom")

    app.add_url_rule("/boom-for-test", "boom_for_test", boom)
    response = client.get("/boom-for-test")
    html = response.get_data(as_text=True)
    assert response.status_code == 500
    assert "Something went wrong on our side" in html and "kaboom" not in html
    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert "We could not find that page" in missing.get_data(as_text=True)


@pytest.mark.parametrize(
    ("path", "heading"),
    [
        ("/account/login", "Log in"),
        ("/account/register", "Create your account"),
        ("/account/forgot", "Forgot your password?"),
        ("/track", "Track a repair"),
        ("/repair/new", "Book a repair"),
    ],
)
def test_public_pages_share_the_site_layout(client, app, path, heading):
    response = client.get(path)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert f"<h1>{heading}</h1>" in html
    assert 'class="skip-link"' in html and "/static/css/site.css" in html
    assert 'aria-label="Main"' in html


def test_register_errors_are_listed_and_kept(client, app):
    data = {"full_name": "Kim", "email": "not-an-email", "password": "x", "confirm": "y"}
    response = post_form(client, "/account/register", data)
    html = response.get_data(as_text=True)
    assert 'class="error-summary"' in html
    assert 'value="Kim"' in html and 'value="not-an-email"' in html
    assert 'aria-invalid="true"' in html
