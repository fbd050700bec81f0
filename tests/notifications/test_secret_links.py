"""Reset and tracking links never rest in a readable notification body (issue 12, row 1/12).

They are stored as placeholders and made live when the message is rendered for sending; the
back office, the in-app list and the logs show "[password link]" / "[tracking link]".
"""

from __future__ import annotations

import email
import logging
import re
from email import policy

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Notification
from fixmyphone.services import messages, notifications, secret_links
from fixmyphone.workflow import move_status

from ..conftest import client_for, csrf_token
from ..factories import CustomerFactory, ServiceRequestFactory, UserFactory

RESET_RE = re.compile(r"http://shop\.test(/account/reset/[A-Za-z0-9_.\-]+)")


@pytest.fixture
def app_settings(smtp_settings):
    return smtp_settings


def text_of(message) -> str:
    message = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    return message.get_body(("plain",)).get_content()


def forgot(client, address: str) -> None:
    token = csrf_token(client, "/account/forgot")
    response = client.post("/account/forgot", data={"email": address, "csrf_token": token})
    assert response.status_code == 302


def test_a_reset_email_keeps_no_token_and_its_link_is_made_when_sent(client, smtp_sink):
    owner = UserFactory(role="superadmin")
    db.session.commit()

    forgot(client, owner.email)

    row = db.session.scalars(sa.select(Notification).filter_by(event="password_reset")).one()
    assert row.status == "sent"
    assert "/account/reset/" not in row.body and "http" not in row.body
    assert secret_links.mark("auth.reset_password") in row.body
    (got,) = smtp_sink.messages
    path = RESET_RE.search(text_of(got["message"])).group(1)
    html = got["message"].get_body(("html",)).get_content()
    assert f"http://shop.test{path}" in html  # text and HTML carry the same link
    # The link works: the owner sets a new password with it.
    token = csrf_token(client, path)
    response = client.post(
        path, data={"password": "a-new-secret-1", "confirm": "a-new-secret-1", "csrf_token": token}
    )
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/login")


def test_tracking_links_are_placeholders_in_every_stored_row(app, smtp_sink):
    request = ServiceRequestFactory()
    request.customer.customer_profile.notify_sms = False
    admin = UserFactory(role="admin")
    db.session.commit()

    move_status(request, "in_progress", admin, "Screen ordered")
    db.session.commit()

    rows = db.session.scalars(sa.select(Notification).filter_by(event="status_changed")).all()
    assert sorted(r.channel for r in rows) == ["email", "in_app"]
    for row in rows:
        assert request.tracking_token not in row.body + row.subject + str(row.context)
        assert secret_links.mark("public.track_token") in row.body
    (got,) = smtp_sink.messages
    assert f"Track it here: http://shop.test/track/{request.tracking_token}" in text_of(
        got["message"]
    )


def test_the_in_app_list_reads_tracking_link_and_its_open_button_follows_it(app, smtp_sink):
    request = ServiceRequestFactory()
    db.session.commit()
    move_status(request, "in_progress", UserFactory(role="admin"), None)
    db.session.commit()
    client, _ = client_for(app, request.customer)

    html = client.get("/notifications/").get_data(as_text=True)

    assert "Track it here: [tracking link]" in html
    assert request.tracking_token not in html and "\u27e6" not in html
    row = db.session.scalars(sa.select(Notification).filter_by(channel="in_app")).one()
    token = csrf_token(client, "/notifications/")
    response = client.post(f"/notifications/{row.id}/read", data={"open": "1", "csrf_token": token})
    assert response.headers["Location"] == f"http://shop.test/track/{request.tracking_token}"


def test_back_office_notification_pages_never_show_a_reset_link(app, client, smtp_sink):
    """Issue 12 row 1: an admin reads the owner's reset email in the back office."""
    owner = UserFactory(role="superadmin")
    admin = UserFactory(role="admin")
    db.session.commit()
    smtp_sink.refuse.add(owner.email)  # the email fails: it is listed in the back office
    forgot(client, owner.email)
    row = db.session.scalars(sa.select(Notification).filter_by(event="password_reset")).one()
    assert row.status == "failed"
    admin_client, _ = client_for(app, admin)

    listing = admin_client.get("/admin/notifications/")
    details = admin_client.get(f"/admin/notifications/details/?id={row.id}")

    assert listing.status_code == details.status_code == 200
    page = details.get_data(as_text=True)
    assert "[password link]" in page and "recipient refused" in page
    for html in (listing.get_data(as_text=True), page):
        assert "/account/reset/" not in html and "\u27e6" not in html
        assert row.dedup_key not in html


def test_old_rows_with_live_links_are_masked_on_staff_screens(app, client):
    """Rows written before placeholders existed still show no token in the back office."""
    request = ServiceRequestFactory()
    body = (
        f"Track it here: http://shop.test/track/{request.tracking_token}.\n"
        "Reset: http://shop.test/account/reset/eyJ1aWQiOjF9.abc.def\n"
    )
    row = Notification(
        user=request.customer,
        service_request_id=request.id,
        event="status_changed",
        channel="email",
        recipient=request.customer.email,
        subject="Old",
        body=body,
        status="failed",
        last_error="SMTPDataError",
        dedup_key="old-row",
    )
    db.session.add(row)
    db.session.add(AuditLog(action="note", object_type="X", object_id="1", after={"text": body}))
    superadmin = UserFactory(role="superadmin")
    db.session.commit()
    client, _ = client_for(app, superadmin)

    details = client.get(f"/admin/notifications/details/?id={row.id}").get_data(as_text=True)
    audit = client.get("/admin/audit/").get_data(as_text=True)
    export = client.get("/admin/audit/export/csv/")

    assert export.status_code == 200 and "[tracking link]" in export.get_data(as_text=True)
    assert "Track it here: [tracking link]." in details and "Reset: [password link]" in details
    for html in (details, audit, export.get_data(as_text=True)):
        assert request.tracking_token not in html and "eyJ1aWQiOjF9" not in html


def test_a_typed_placeholder_never_becomes_a_live_link(app, smtp_sink):
    request = ServiceRequestFactory()
    admin = UserFactory(role="admin")
    db.session.commit()
    typed = "please " + secret_links.mark("auth.reset_password") + " thanks"

    messages.post_message(request, admin, typed)  # emailed to the customer
    messages.post_message(request, request.customer, typed)  # alerts the admin in the app
    db.session.commit()

    rows = db.session.scalars(sa.select(Notification)).all()
    assert {r.user_id for r in rows} >= {admin.id, request.customer_id}
    assert all(secret_links.mark("auth.reset_password") not in r.body for r in rows)
    assert smtp_sink.messages
    for got in smtp_sink.messages:
        assert "/account/reset/" not in got["message"].as_string()
        assert "please [link:auth.reset_password] thanks" in text_of(got["message"])


def test_a_link_to_another_repair_or_an_unknown_token_page_is_removed(app):
    mine, other = ServiceRequestFactory(), ServiceRequestFactory()
    db.session.flush()
    text = (
        f"Mine http://shop.test/track/{mine.tracking_token} "
        f"theirs http://shop.test/track/{other.tracking_token}/quote, "
        f"bare {mine.tracking_token} and http://elsewhere.test/track/{other.tracking_token}"
    )
    protected = secret_links.protect(text, mine)
    assert protected == (
        "Mine \u27e6link:public.track_token\u27e7 theirs [link removed], bare [redacted] and "
        f"http://elsewhere.test/track/{other.tracking_token}"
    )


def test_a_link_with_more_arguments_keeps_them_and_comes_back_alive(app):
    request = ServiceRequestFactory()
    db.session.flush()
    url = f"http://shop.test/track/{request.tracking_token}/invoice/42.pdf"
    row = Notification(user=request.customer, service_request_id=request.id)

    protected = secret_links.protect(f"Your invoice: {url}.", request)

    assert protected == "Your invoice: \u27e6link:public.token_invoice_pdf;invoice_id=42\u27e7."
    assert secret_links.readable(protected) == "Your invoice: [invoice link]."
    assert secret_links.live(row, protected) == f"Your invoice: {url}."


def test_every_token_route_is_registered():
    """A new page reached by a token must say how its links are protected and made live."""
    from fixmyphone import create_app
    from fixmyphone.config import TestConfig

    app = create_app(TestConfig, DEV_OUTBOX=True)
    with app.app_context():
        assert secret_links.token_endpoints() <= set(secret_links.LINKS)
        assert "auth.reset_password" in secret_links.token_endpoints()


def test_a_deactivated_account_gets_no_reset_email(app, smtp_sink):
    customer = CustomerFactory()
    db.session.commit()
    smtp_sink.refuse.add(customer.email)  # keep the row pending-failed, then resend later
    from fixmyphone.services import accounts

    with app.test_request_context("/"):
        accounts.send_password_reset(customer)
    db.session.commit()
    row = db.session.scalars(sa.select(Notification)).one()
    customer.active = False
    db.session.commit()
    smtp_sink.refuse.clear()

    notifications.resend(row.id, UserFactory(role="admin"))
    db.session.commit()

    db.session.expire_all()
    row = db.session.get(Notification, row.id)
    assert (row.status, row.attempts) == ("failed", 1)
    assert "deactivated" in row.last_error
    assert smtp_sink.messages == []


def test_without_smtp_the_log_names_the_row_never_the_body(app, caplog):
    app.config["SMTP_HOST"] = None
    caplog.set_level(logging.DEBUG)
    request = ServiceRequestFactory()
    request.customer.customer_profile.notify_sms = True
    request.customer.customer_profile.phone = "+1 555 0199"
    db.session.commit()

    move_status(request, "in_progress", UserFactory(role="admin"), "Parts in")
    db.session.commit()

    rows = db.session.scalars(sa.select(Notification).filter(Notification.channel != "in_app"))
    assert {r.status for r in rows} == {"sent"}
    assert "not sent, no SMTP_HOST" in caplog.text and "provider=log, not sent" in caplog.text
    assert request.tracking_token not in caplog.text
    assert "Hello" not in caplog.text and "Parts in" not in caplog.text
    assert request.customer.email in caplog.text  # who it was for is still there
