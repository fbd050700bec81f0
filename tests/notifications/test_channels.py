"""Email through a real SMTP conversation, SMS through a fake Twilio, templates per event."""

from __future__ import annotations

import base64
import email
import logging
import types
from email import policy

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Notification
from fixmyphone.services import delivery, notifications, sms
from fixmyphone.workflow import move_status

from ..factories import CustomerFactory, ServiceRequestFactory, UserFactory


@pytest.fixture
def app_settings(smtp_settings, fake_twilio):
    return {
        **smtp_settings,
        "SMS_PROVIDER": "twilio",
        "TWILIO_ACCOUNT_SID": "ACtest",
        "TWILIO_AUTH_TOKEN": "secret",
        "TWILIO_FROM": "+15550000",
        "TWILIO_API_BASE": fake_twilio.base,
        "NOTIFY_MAX_ATTEMPTS": 3,
    }


def the_row(**filters) -> Notification:
    db.session.expire_all()
    return db.session.scalars(sa.select(Notification).filter_by(**filters)).one()


def parts(message) -> dict[str, str]:
    """The text parts of a message, read back as a mail client would."""
    message = email.message_from_bytes(message.as_bytes(), policy=policy.default)
    return {
        part.get_content_type(): part.get_content()
        for part in message.walk()
        if part.get_content_maintype() == "text"
    }


def test_a_status_email_goes_out_by_smtp_with_text_html_and_the_tracking_link(app, smtp_sink):
    request = ServiceRequestFactory()
    admin = UserFactory(role="admin")
    db.session.commit()
    move_status(request, "in_progress", admin, "Screen ordered")
    db.session.commit()

    assert len(smtp_sink.messages) == 1
    got = smtp_sink.messages[0]
    message = got["message"]
    assert got["to"] == [request.customer.email]
    assert message["Subject"] == f"{request.reference}: In Progress"
    assert message["From"] == "Shop <shop@fixmyphone.test>"
    link = f"http://shop.test/track/{request.tracking_token}"
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    assert "is now: In Progress" in text and "Screen ordered" in text and link in text
    assert "Your repair is now In Progress" in html
    assert f'href="{link}"' in html and request.reference in html
    assert "{{" not in html and "{%" not in text
    assert the_row(channel="email").status == "sent"


def test_a_refused_recipient_fails_without_retries(app, smtp_sink):
    customer = CustomerFactory(email="nobody@example.com")
    smtp_sink.refuse.add("nobody@example.com")
    notifications.notify(customer, "quote_sent", "Q", "B", dedup_key="q", channels=["email"])
    db.session.commit()
    row = the_row()
    assert (row.status, row.attempts) == ("failed", 1)
    assert "refused" in row.last_error


def test_attachments_are_rendered_at_send_time(app, smtp_sink, monkeypatch):
    documents = types.SimpleNamespace(
        render_receipt=lambda payment_id: b"%PDF-1.4 receipt " + str(payment_id).encode(),
        render_invoice=lambda invoice_id: ("INV-2026-0001.pdf", b"%PDF-1.4 invoice"),
    )
    monkeypatch.setattr(delivery, "documents", documents)
    request = ServiceRequestFactory()
    notifications.notify(
        request.customer,
        "payment_received",
        "Payment received",
        "Thanks for your payment.",
        dedup_key="pay:7",
        service_request=request,
        context={
            "attachments": [
                {"kind": "receipt", "payment_id": 7},
                {"kind": "invoice", "invoice_id": 3},
            ]
        },
        channels=["email"],
    )
    db.session.commit()
    message = smtp_sink.messages[0]["message"]
    files = {p.get_filename(): p.get_content() for p in message.iter_attachments()}
    assert files == {
        "receipt-7.pdf": b"%PDF-1.4 receipt 7",
        "INV-2026-0001.pdf": b"%PDF-1.4 invoice",
    }
    assert "receipt is attached" in parts(message)["text/plain"]


EVENTS = [
    ("status_changed", "Your repair is now Ready for Pickup", {"status": "ready_for_pickup"}),
    ("request_received", "We received your repair request", {}),
    ("quote_sent", "Your quote is ready", {}),
    ("message_received", "New message from", {}),
    ("appointment_booked", "Your appointment is booked", {}),
    ("appointment_moved", "Your appointment has moved", {}),
    ("appointment_canceled", "Your appointment was canceled", {}),
    ("appointment_reminder", "Reminder: your appointment is Mon 07 Dec", {"when": "Mon 07 Dec"}),
    ("pickup_reminder", "Your device is ready for pickup", {}),
    ("payment_received", "Payment received, thank you", {}),
    ("password_reset", "Reset your password", {}),
    ("low_stock", "Low stock: Screen", {"audience": "staff"}),
    ("something_new", "Something new", {}),
]


@pytest.mark.parametrize(("event", "heading", "context"), EVENTS)
def test_every_event_has_an_email_with_its_heading_and_link(app, event, heading, context):
    request = ServiceRequestFactory()
    subject = "Reset your password" if event == "password_reset" else heading
    row = Notification(
        user=request.customer,
        service_request_id=request.id,
        event=event,
        channel="email",
        recipient="a@example.com",
        subject=subject,
        body="Hello,\n\nSee https://shop.test/x for <details>.",
        context=context,
        dedup_key=f"t:{event}",
    )
    db.session.add(row)
    db.session.flush()
    message = delivery.render_email(row)
    text, html = parts(message)["text/plain"], parts(message)["text/html"]
    assert heading in html
    assert "&lt;details&gt;" in html and '<a href="https://shop.test/x">' in html
    assert "See https://shop.test/x for <details>." in text
    if event == "password_reset":
        assert "Track your repair" not in html
    elif context.get("audience") == "staff":
        assert "Open in the back office" in html and "/admin/" in html
    else:
        assert f"/track/{request.tracking_token}" in html


def test_an_sms_goes_to_twilio_with_basic_auth(app, fake_twilio):
    customer = CustomerFactory()
    customer.customer_profile.notify_sms = True
    request = ServiceRequestFactory(customer=customer)
    admin = UserFactory(role="admin")
    db.session.commit()
    move_status(request, "in_progress", admin)
    db.session.commit()

    assert len(fake_twilio.requests) == 1
    sent = fake_twilio.requests[0]
    assert sent["path"] == "/2010-04-01/Accounts/ACtest/Messages.json"
    assert (
        sent["headers"]["Authorization"] == "Basic " + base64.b64encode(b"ACtest:secret").decode()
    )
    assert sent["form"]["To"] == ["+1 555 0199"] and sent["form"]["From"] == ["+15550000"]
    body = sent["form"]["Body"][0]
    assert f"{request.reference}: In Progress" in body and request.tracking_token in body
    assert the_row(channel="sms").status == "sent"


@pytest.mark.parametrize(
    ("status", "row_status", "permanent"),
    [
        (400, "failed", True),
        (401, "failed", True),
        (429, "pending", False),
        (503, "pending", False),
    ],
)
def test_twilio_errors_are_permanent_or_retried(app, fake_twilio, status, row_status, permanent):
    fake_twilio.answer = (status, {"code": 21211, "message": "Invalid 'To' Phone Number"})
    provider = delivery.sms_provider()
    with pytest.raises(sms.SmsError) as caught:
        provider.send("+1 555", "hi")
    assert caught.value.permanent is permanent
    assert str(status) in str(caught.value)

    customer = CustomerFactory()
    customer.customer_profile.notify_sms = True
    notifications.notify(customer, "quote_sent", "Q", "B", dedup_key="q", channels=["sms"])
    db.session.commit()
    row = the_row()
    assert (row.status, row.attempts) == (row_status, 1)


def test_an_unreachable_twilio_is_a_transient_error(app):
    provider = sms.TwilioSmsProvider("AC", "t", "+1", api_base="http://127.0.0.1:1")
    with pytest.raises(sms.SmsError) as caught:
        provider.send("+1", "hi")
    assert caught.value.permanent is False


def test_the_provider_follows_the_configuration(app):
    def provider(**settings):
        unset = {"SMS_PROVIDER": "log", "TWILIO_API_BASE": "https://api.twilio.com"}
        unset.update(TWILIO_ACCOUNT_SID=None, TWILIO_AUTH_TOKEN=None, TWILIO_FROM=None)
        return sms.provider_from_config({**unset, **settings})

    assert isinstance(provider(), sms.LogSmsProvider)
    assert isinstance(provider(SMS_PROVIDER="log"), sms.LogSmsProvider)
    with pytest.raises(sms.SmsError):
        provider(SMS_PROVIDER="carrier-pigeon")
    with pytest.raises(sms.SmsError) as caught:
        provider(SMS_PROVIDER="twilio")  # without its credentials
    assert caught.value.permanent


def test_without_smtp_host_emails_are_logged_and_count_as_sent(app, caplog):
    caplog.set_level(logging.INFO, logger="fixmyphone.services.delivery")
    app.config["SMTP_HOST"] = None
    customer = CustomerFactory()
    notifications.notify(customer, "quote_sent", "Quote", "B", dedup_key="q", channels=["email"])
    db.session.commit()
    assert the_row().status == "sent"
    assert "not sent, no SMTP_HOST" in caplog.text


def test_a_plain_notify_to_staff_uses_the_staff_template(app, smtp_sink):
    admin = UserFactory(role="admin")
    notifications.notify(
        admin, "low_stock", "Low stock: SCR-1", "2 left.", dedup_key="low", channels=["email"]
    )
    db.session.commit()
    html = parts(smtp_sink.messages[0]["message"])["text/html"]
    assert "Open in the back office" in html and 'href="http://shop.test/admin/"' in html
    assert "Sent to the shop" in html


def test_a_real_receipt_pdf_is_attached_and_a_missing_payment_fails_for_good(app, smtp_sink):
    from fixmyphone.models import Payment, utcnow

    request = ServiceRequestFactory()
    payment = Payment(
        service_request=request,
        customer_id=request.customer_id,
        method="cash",
        amount=4999,
        currency="usd",
        status="succeeded",
        succeeded_at=utcnow(),
    )
    db.session.add(payment)
    db.session.flush()
    for pid in (payment.id, 999999):
        notifications.notify(
            request.customer,
            "payment_received",
            "Payment received",
            "Thanks.",
            dedup_key=f"pay:{pid}",
            service_request=request,
            context={"attachments": [{"kind": "receipt", "payment_id": pid}]},
            channels=["email"],
        )
    db.session.commit()
    assert len(smtp_sink.messages) == 1
    (attachment,) = smtp_sink.messages[0]["message"].iter_attachments()
    assert attachment.get_content_type() == "application/pdf"
    assert attachment.get_content().startswith(b"%PDF")
    missing = the_row(dedup_key="pay:999999:email")
    assert (missing.status, missing.attempts) == ("failed", 1)
    assert "No such payment" in missing.last_error


def test_non_ascii_subjects_names_and_bodies_survive_the_trip(app, smtp_sink):
    app.config["MAIL_FROM"] = "Réparations Zoë <shop@fixmyphone.test>"
    customer = CustomerFactory()
    notifications.notify(
        customer,
        "quote_sent",
        "Devis prêt: écran 120 €",
        "Bonjour Zoë,\n\nVotre devis est prêt: " + "très long " * 200,
        dedup_key="accents",
        channels=["email"],
    )
    db.session.commit()
    (got,) = smtp_sink.messages
    message = got["message"]
    assert message["Subject"] == "Devis prêt: écran 120 €"
    assert message["From"].addresses[0].display_name == "Réparations Zoë"
    assert got["from"].strip("<>") == "shop@fixmyphone.test"
    text = parts(message)["text/plain"]
    assert "Bonjour Zoë" in text and text.count("très long") == 200
    assert all(len(line) <= 998 for line in message.as_string().splitlines())
