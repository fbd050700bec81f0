"""The Stripe webhook: signature, idempotency, out-of-order delivery, what it changes."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Notification, Payment, StripeEvent
from fixmyphone.services import billing
from tests.conftest import csrf_token

from .conftest import (
    event_payload,
    intent_object,
    invoiced_request,
    send_event,
    session_completed,
    signed,
)


@pytest.fixture
def checkout(customer, customer_client, stripe_fake):
    """A repair invoiced at 10000 with a pending online payment for it."""
    request, _invoice = invoiced_request(customer)
    token = csrf_token(customer_client, f"/track/{request.tracking_token}")
    response = customer_client.post(f"/pay/{request.id}", data={"csrf_token": token})
    assert response.status_code == 303
    payment = db.session.scalars(sa.select(Payment)).one()
    return request, payment


def _reload(payment: Payment) -> Payment:
    db.session.expire_all()
    return db.session.get(Payment, payment.id)


def test_checkout_completed_marks_the_payment_succeeded(client, checkout):
    request, payment = checkout

    response = send_event(
        client,
        "checkout.session.completed",
        session_completed(payment.stripe_checkout_session_id, payment.id, request.id),
    )

    assert response.status_code == 200
    payment = _reload(payment)
    assert payment.status == "succeeded"
    assert payment.succeeded_at is not None
    assert payment.stripe_payment_intent_id == "pi_test_1"
    assert payment.invoice_id is not None
    assert billing.balance_due(request) == 0
    notes = db.session.scalars(
        sa.select(Notification).where(Notification.event == "payment_received")
    ).all()
    assert notes and all(n.dedup_key.startswith(f"payment_received:{payment.id}") for n in notes)
    assert notes[0].context == {"attachments": [{"kind": "receipt", "payment_id": payment.id}]}
    event = db.session.scalars(sa.select(StripeEvent)).one()
    assert event.status == "processed" and event.processed_at is not None


def test_the_same_event_twice_changes_nothing_the_second_time(client, checkout):
    request, payment = checkout
    obj = session_completed(payment.stripe_checkout_session_id, payment.id, request.id)

    first = send_event(client, "checkout.session.completed", obj, event_id="evt_dup")
    succeeded_at = _reload(payment).succeeded_at
    notes_before = db.session.scalar(sa.select(sa.func.count(Notification.id)))
    second = send_event(client, "checkout.session.completed", obj, event_id="evt_dup")

    assert first.status_code == second.status_code == 200
    assert first.get_json() == {"received": True, "duplicate": False}
    assert second.get_json() == {"received": True, "duplicate": True}
    assert _reload(payment).succeeded_at == succeeded_at
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == notes_before
    assert db.session.scalar(sa.select(sa.func.count(StripeEvent.id))) == 1


def test_a_different_event_for_the_same_payment_is_harmless(client, checkout):
    request, payment = checkout
    obj = session_completed(payment.stripe_checkout_session_id, payment.id, request.id)
    received = sa.select(sa.func.count(Notification.id)).where(
        Notification.event == "payment_received"
    )
    send_event(client, "checkout.session.completed", obj)
    after_first = db.session.scalar(received)
    send_event(client, "checkout.session.completed", obj)  # new event id, same session

    assert _reload(payment).status == "succeeded"
    assert after_first >= 1
    assert db.session.scalar(received) == after_first
    assert billing.balance_due(request) == 0


def test_payment_intent_succeeded_before_checkout_completed(client, checkout):
    request, payment = checkout

    send_event(
        client,
        "payment_intent.succeeded",
        intent_object("pi_early", payment.id, request.id, charge="ch_early"),
    )
    after_intent = _reload(payment)
    assert after_intent.status == "succeeded"
    assert after_intent.stripe_payment_intent_id == "pi_early"
    assert after_intent.stripe_charge_id == "ch_early"

    send_event(
        client,
        "checkout.session.completed",
        session_completed(
            payment.stripe_checkout_session_id, payment.id, request.id, intent="pi_early"
        ),
    )
    assert _reload(payment).status == "succeeded"
    assert billing.balance_due(request) == 0


def test_failure_is_recorded_and_a_later_success_still_counts(client, checkout):
    request, payment = checkout

    send_event(
        client,
        "payment_intent.payment_failed",
        intent_object("pi_1", payment.id, request.id, error="Your card was declined."),
    )
    failed = _reload(payment)
    assert failed.status == "failed"
    assert failed.failure_reason == "Your card was declined."
    assert billing.balance_due(request) == 10000

    send_event(client, "payment_intent.succeeded", intent_object("pi_1", payment.id, request.id))
    assert _reload(payment).status == "succeeded"


def test_a_late_failure_never_undoes_a_success(client, checkout):
    request, payment = checkout
    send_event(client, "payment_intent.succeeded", intent_object("pi_1", payment.id, request.id))
    send_event(
        client,
        "payment_intent.payment_failed",
        intent_object("pi_1", payment.id, request.id, error="late"),
    )
    send_event(
        client,
        "checkout.session.expired",
        {
            "id": payment.stripe_checkout_session_id,
            "object": "checkout.session",
            "mode": "payment",
            "metadata": {"payment_id": str(payment.id)},
        },
    )
    assert _reload(payment).status == "succeeded"


def test_expired_checkout_cancels_the_pending_payment(client, checkout):
    _request, payment = checkout
    send_event(
        client,
        "checkout.session.expired",
        {
            "id": payment.stripe_checkout_session_id,
            "object": "checkout.session",
            "mode": "payment",
            "metadata": {"payment_id": str(payment.id)},
        },
    )
    assert _reload(payment).status == "canceled"


def test_async_checkout_waits_for_the_async_result(client, checkout):
    request, payment = checkout
    obj = session_completed(payment.stripe_checkout_session_id, payment.id, request.id, paid=False)
    send_event(client, "checkout.session.completed", obj)
    assert _reload(payment).status == "pending"
    obj["payment_status"] = "paid"
    send_event(client, "checkout.session.async_payment_succeeded", obj)
    assert _reload(payment).status == "succeeded"


def test_the_return_page_shows_processing_then_paid(client, customer_client, checkout):
    request, payment = checkout
    url = f"/pay/{request.id}/return?session_id={payment.stripe_checkout_session_id}"
    assert "Processing" in customer_client.get(url).get_data(as_text=True)

    send_event(
        client,
        "checkout.session.completed",
        session_completed(payment.stripe_checkout_session_id, payment.id, request.id),
    )

    html = customer_client.get(url).get_data(as_text=True)
    assert "Payment received" in html
    assert f"/documents/receipt/{payment.id}.pdf" in html
    assert customer_client.get(f"/pay/{request.id}/status.json").get_json()["status"] == (
        "succeeded"
    )


def test_unknown_event_types_are_recorded_and_ignored(client, checkout):
    _request, payment = checkout
    response = send_event(client, "customer.created", {"id": "cus_1", "object": "customer"})
    assert response.status_code == 200
    event = db.session.scalars(sa.select(StripeEvent)).one()
    assert event.type == "customer.created"
    assert event.status == "ignored"
    assert _reload(payment).status == "pending"


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "t=1,v1=deadbeef",
        "garbage",
    ],
)
def test_a_bad_or_missing_signature_is_400_and_logged(client, checkout, caplog, header):
    request, payment = checkout
    payload = event_payload(
        "checkout.session.completed",
        session_completed(payment.stripe_checkout_session_id, payment.id, request.id),
    )
    headers = {} if header is None else {"Stripe-Signature": header}
    with caplog.at_level(logging.WARNING):
        response = client.post("/webhooks/stripe", data=payload, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "bad_request"
    assert "rejected a Stripe webhook" in caplog.text
    assert _reload(payment).status == "pending"
    assert db.session.scalars(sa.select(StripeEvent)).all() == []


def test_the_wrong_secret_or_a_stale_timestamp_is_refused(client, checkout):
    request, payment = checkout
    payload = event_payload(
        "checkout.session.completed",
        session_completed(payment.stripe_checkout_session_id, payment.id, request.id),
    )
    wrong = client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": signed(payload, "whsec_other")},
    )
    stale = client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": signed(payload, timestamp=1_000_000_000)},
    )
    assert wrong.status_code == stale.status_code == 400
    assert _reload(payment).status == "pending"


def test_the_webhook_answers_503_without_a_secret(app, client):
    app.config["STRIPE_WEBHOOK_SECRET"] = None
    payload = event_payload("checkout.session.completed", {"id": "cs_x"})
    response = client.post(
        "/webhooks/stripe", data=payload, headers={"Stripe-Signature": signed(payload)}
    )
    assert response.status_code == 503
    assert db.session.scalars(sa.select(StripeEvent)).all() == []


def test_an_event_for_a_payment_not_committed_yet_waits_and_is_replayed(app, client, customer):
    """payment_intent.succeeded names payment 999 that does not exist yet → deferred."""
    request, _ = invoiced_request(customer)
    send_event(client, "payment_intent.succeeded", intent_object("pi_x", 999, request.id))
    event = db.session.scalars(sa.select(StripeEvent)).one()
    assert event.status == "deferred"
    assert event.processed_at is None


def test_the_sweep_applies_events_whose_job_was_lost(app, client, checkout):
    from datetime import timedelta

    from fixmyphone.models import utcnow
    from fixmyphone.payments import jobs

    request, payment = checkout
    obj = session_completed(payment.stripe_checkout_session_id, payment.id, request.id)
    db.session.add(
        StripeEvent(
            id="evt_lost",
            type="checkout.session.completed",
            payload={"id": "evt_lost", "data": {"object": obj}},
            status="received",
            received_at=utcnow() - timedelta(minutes=10),
        )
    )
    db.session.commit()

    assert jobs.retry_unprocessed_events() == {"retried": 1, "failed": 0}

    assert _reload(payment).status == "succeeded"
    assert db.session.get(StripeEvent, "evt_lost").status == "processed"
