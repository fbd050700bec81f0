"""In-app notifications: the list, mark as read (CSRF), the unread count, the bells."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import render_template
from flask_login import login_user

from fixmyphone.extensions import db
from fixmyphone.models import Notification
from fixmyphone.services import in_app as bell
from fixmyphone.services import notifications

from ..conftest import count_rows, csrf_token
from ..factories import CustomerFactory, ServiceRequestFactory, UserFactory


def in_app(user, subject="Your repair moved", request=None, key=None):
    rows = notifications.notify(
        user,
        "status_changed",
        subject,
        f"{subject}.",
        dedup_key=key or subject,
        service_request=request,
        channels=["in_app"],
    )
    db.session.commit()
    return rows[0]


def test_anonymous_visitors_are_sent_to_login_or_get_401(client):
    response = client.get("/notifications/")
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    response = client.get("/notifications/unread-count")
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "unauthorized"


def test_the_list_shows_only_my_notifications_and_the_count(customer_client, customer):
    mine = in_app(customer, "Ready for pickup")
    in_app(CustomerFactory(), "Someone else's repair")
    page = customer_client.get("/notifications/")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Ready for pickup" in html and "Someone else" not in html
    assert f"/notifications/{mine.id}/read" in html
    count = customer_client.get("/notifications/unread-count")
    assert count.get_json() == {"unread": 1}
    assert count.headers["Cache-Control"] == "no-store"


def test_mark_as_read_needs_the_csrf_token(customer_client, customer):
    row = in_app(customer)
    assert customer_client.post(f"/notifications/{row.id}/read").status_code == 400
    db.session.refresh(row)
    assert row.read_at is None

    token = csrf_token(customer_client, "/notifications/")
    response = customer_client.post(f"/notifications/{row.id}/read", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith("/notifications/")
    db.session.refresh(row)
    assert row.read_at is not None and row.status == "read"
    assert customer_client.get("/notifications/unread-count").get_json() == {"unread": 0}


def test_someone_elses_notification_is_not_found(customer_client):
    other = in_app(CustomerFactory())
    token = csrf_token(customer_client, "/notifications/")
    response = customer_client.post(f"/notifications/{other.id}/read", data={"csrf_token": token})
    assert response.status_code == 404
    db.session.refresh(other)
    assert other.read_at is None


def test_open_marks_read_and_follows_the_tracking_link(customer_client, customer):
    request = ServiceRequestFactory(customer=customer)
    row = in_app(customer, request=request)
    token = csrf_token(customer_client, "/notifications/")
    response = customer_client.post(
        f"/notifications/{row.id}/read", data={"csrf_token": token, "open": "1"}
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"http://shop.test/track/{request.tracking_token}"
    db.session.refresh(row)
    assert row.read_at is not None


def test_mark_all_as_read(customer_client, customer):
    for n in range(3):
        in_app(customer, f"Update {n}")
    token = csrf_token(customer_client, "/notifications/")
    assert customer_client.post("/notifications/read-all").status_code == 400
    response = customer_client.post("/notifications/read-all", data={"csrf_token": token})
    assert response.status_code == 302
    assert bell.unread_count(customer) == 0
    assert count_rows(Notification, Notification.read_at.is_(None)) == 0


def test_staff_alerts_open_in_the_back_office(admin_client, admin_user):
    request = ServiceRequestFactory()
    notifications.alert_staff(
        "low_stock", "Low stock: Screen", "2 left", dedup_key="low:1", channels=("in_app",)
    )
    notifications.alert_staff(
        "repair_overdue",
        "Overdue",
        "late",
        dedup_key="o:1",
        service_request=request,
        channels=("in_app",),
    )
    db.session.commit()
    assert admin_client.get("/notifications/unread-count").get_json() == {"unread": 2}
    low = db.session.scalars(sa.select(Notification).where(Notification.event == "low_stock")).one()
    token = csrf_token(admin_client, "/notifications/")
    response = admin_client.post(
        f"/notifications/{low.id}/read", data={"csrf_token": token, "open": "1"}
    )
    assert response.headers["Location"] == "http://shop.test/admin/"


@pytest.mark.parametrize("partial", ["partials/bell.html", "partials/bell_admin.html"])
def test_the_bells_show_the_unread_count(app, customer, partial):
    in_app(customer, "One")
    in_app(customer, "Two")
    with app.test_request_context("/"):
        assert render_template(partial).strip() == ""  # nobody logged in: no bell
        login_user(customer)
        html = render_template(partial)
    assert 'data-bell-url="/notifications/unread-count"' in html
    assert ">2</span>" in html and "2 unread" in html
    assert "js/bell.js" in html and "onclick" not in html and "style=" not in html


def test_a_staff_alert_about_a_repair_links_to_its_back_office_page(app):
    request = ServiceRequestFactory()
    UserFactory(role="admin")
    row = notifications.alert_staff(
        "repair_overdue", "Overdue", "late", dedup_key="o", service_request=request
    )[0]
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    link = bell.link_for(row)
    if "admin_requests.request_page" in endpoints:
        assert link.startswith("http://shop.test/admin/") and link.endswith(f"/{request.id}")
    else:
        assert link == "http://shop.test/admin/"
