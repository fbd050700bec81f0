"""Failures no retry can fix mark the notification failed at once (issue 12, point 8 / row 11):
a header that cannot be written, a refused recipient, a template that cannot be rendered.
They show in the back office with the reason and can be resent there."""

from __future__ import annotations

import email
from email import policy
from email.errors import HeaderParseError

import jinja2
import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Notification
from fixmyphone.services import delivery, notifications

from ..conftest import client_for, csrf_token
from ..factories import CustomerFactory, ServiceRequestFactory, UserFactory


@pytest.fixture
def app_settings(smtp_settings):
    return {**smtp_settings, "NOTIFY_MAX_ATTEMPTS": 5}


def the_row() -> Notification:
    db.session.expire_all()
    return db.session.scalars(sa.select(Notification)).one()


def received(sink):
    (got,) = sink.messages
    return email.message_from_bytes(got["message"].as_bytes(), policy=policy.default)


def test_a_part_name_with_crlf_makes_a_one_line_subject(app, smtp_sink):
    request = ServiceRequestFactory()
    db.session.commit()
    part = "Screen\r\nBcc: thief@evil.test\r\n\r\nInjected"

    notifications.notify(
        request.customer,
        "quote_sent",
        f"{request.reference}: {part} ordered",
        "Body",
        dedup_key="crlf",
        service_request=request,
        channels=["email"],
    )
    db.session.commit()

    row = the_row()
    assert row.status == "sent" and row.attempts == 1
    assert "\r" not in row.subject and "\n" not in row.subject
    message = received(smtp_sink)
    assert (
        message["Subject"] == f"{request.reference}: Screen Bcc: thief@evil.test Injected ordered"
    )
    assert message["Bcc"] is None
    assert smtp_sink.messages[0]["to"] == [request.customer.email]


def test_a_stored_subject_with_crlf_is_sent_on_one_line(app, smtp_sink):
    """A row written before subjects were cleaned (or by hand) is cleaned when rendered."""
    customer = CustomerFactory()
    row = Notification(
        user=customer,
        event="quote_sent",
        channel="email",
        recipient=customer.email,
        subject="Part\r\nBcc: thief@evil.test",
        body="Body",
        dedup_key="old-crlf",
    )
    db.session.add(row)
    db.session.commit()

    from fixmyphone import jobs

    assert jobs.deliver_notification(row.id) is True
    message = received(smtp_sink)
    assert message["Subject"] == "Part Bcc: thief@evil.test" and message["Bcc"] is None


@pytest.mark.parametrize(
    "error, reason",
    [
        (HeaderParseError("header value appears to contain an embedded header"), "malformed"),
        (ValueError("Header values may not contain linefeed"), "malformed"),
    ],
)
def test_a_header_error_fails_at_once_not_with_backoff(app, smtp_sink, monkeypatch, error, reason):
    def broken(cfg, msg, *envelope):
        raise error

    monkeypatch.setattr(delivery.smtp_connections, "send", broken)
    customer = CustomerFactory()
    notifications.notify(customer, "quote_sent", "S", "B", dedup_key="h", channels=["email"])
    db.session.commit()

    row = the_row()
    assert (row.status, row.attempts, row.send_after) == ("failed", 1, None)
    assert reason in row.last_error and type(error).__name__ in row.last_error


def test_a_template_error_fails_at_once(app, smtp_sink, monkeypatch):
    broken = jinja2.DictLoader({"email/quote_sent.txt": "{{ shop.missing.name }}"})
    monkeypatch.setattr(
        app.jinja_env, "loader", jinja2.ChoiceLoader([broken, app.jinja_env.loader])
    )
    customer = CustomerFactory()
    notifications.notify(customer, "quote_sent", "S", "B", dedup_key="t", channels=["email"])
    db.session.commit()

    row = the_row()
    assert (row.status, row.attempts, row.send_after) == ("failed", 1, None)
    assert "could not be rendered" in row.last_error and "UndefinedError" in row.last_error
    assert smtp_sink.messages == []


def test_a_transient_error_still_retries(app, smtp_sink, monkeypatch):
    def down(cfg, msg, *envelope):
        raise ConnectionRefusedError("SMTP server down")

    monkeypatch.setattr(delivery.smtp_connections, "send", down)
    customer = CustomerFactory()
    notifications.notify(customer, "quote_sent", "S", "B", dedup_key="d", channels=["email"])
    db.session.commit()

    row = the_row()
    assert (row.status, row.attempts) == ("pending", 1)
    assert row.send_after is not None


def test_failed_rows_show_why_in_the_back_office_and_resend_from_there(app, smtp_sink):
    customer = CustomerFactory()
    admin = UserFactory(role="admin")
    db.session.commit()
    smtp_sink.refuse.add(customer.email)
    notifications.notify(
        customer, "quote_sent", "Your quote", "B", dedup_key="r", channels=["email"]
    )
    db.session.commit()
    row = the_row()
    assert (row.status, row.attempts) == ("failed", 1)
    client, _ = client_for(app, admin)

    listing = client.get("/admin/notifications/").get_data(as_text=True)
    assert "Your quote" in listing and "recipient refused" in listing

    smtp_sink.refuse.clear()
    token = csrf_token(client, "/admin/notifications/")
    response = client.post(
        "/admin/notifications/action/",
        data={"action": "resend", "rowid": [str(row.id)], "csrf_token": token},
    )
    assert response.status_code == 302
    row = the_row()
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert len(smtp_sink.messages) == 1
    assert (
        db.session.scalar(
            sa.select(sa.func.count(AuditLog.id)).where(AuditLog.action == "notification_resent")
        )
        == 1
    )
