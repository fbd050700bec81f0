"""The Stripe webhook: signature, idempotency, out-of-order delivery, what it changes."""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, Forbidden, ValidationFailed
from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Notification, Payment, Refund, StripeEvent, User
from fixmyphone.services.billing import balances, review
from tests import factories
from tests.conftest import client_for, csrf_token

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
    assert balances.balance_due(request) == 0
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
    assert balances.balance_due(request) == 0


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
    assert balances.balance_due(request) == 0


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
    assert balances.balance_due(request) == 10000

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

    from fixmyphone import jobs
    from fixmyphone.models import utcnow

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


# ---------------------------------------------------------------- money is checked (issue 12, 4)


def _held_alerts(payment: Payment) -> list[Notification]:
    return db.session.scalars(
        sa.select(Notification)
        .where(Notification.event == "payment_needs_review")
        .order_by(Notification.id)
    ).all()


MISMATCHES = [
    # (event kind, reported amount, reported currency, what the back office shows)
    ("checkout", 1, "usd", "Expected $100.00 USD, Stripe reported $0.01 USD"),
    ("checkout", 10000, "eur", "Expected $100.00 USD, Stripe reported €100.00 EUR"),
    ("intent", 50, "jpy", "Expected $100.00 USD, Stripe reported {jpy50}"),
    ("intent", 9999, "usd", "Expected $100.00 USD, Stripe reported $99.99 USD"),
    ("intent", 10000, "eur", "Expected $100.00 USD, Stripe reported €100.00 EUR"),
    ("checkout", None, None, "Expected $100.00 USD, Stripe reported no amount"),
]


def _send_success(client, kind, request, payment, amount, currency):
    if kind == "checkout":
        obj = session_completed(
            payment.stripe_checkout_session_id,
            payment.id,
            request.id,
            amount=amount,
            currency=currency,
        )
        return send_event(client, "checkout.session.completed", obj)
    obj = intent_object("pi_1", payment.id, request.id, amount=amount, currency=currency)
    return send_event(client, "payment_intent.succeeded", obj)


@pytest.mark.parametrize("kind, amount, currency, shown", MISMATCHES)
def test_a_succeeded_event_with_other_money_is_held_for_review(
    app, client, checkout, kind, amount, currency, shown
):
    request, payment = checkout
    factories.UserFactory(role="superadmin")
    factories.UserFactory(role="technician")
    factories.UserFactory(role="admin", active=False)
    db.session.commit()
    admins = db.session.scalars(
        sa.select(User.id).where(User.role.in_(("admin", "superadmin")), User.active)
    ).all()
    assert len(admins) == 2  # the one who issued the invoice and the owner
    shown = shown.format(jpy50=review.money(50, "jpy"))

    response = _send_success(client, kind, request, payment, amount, currency)

    assert response.status_code == 200
    held = _reload(payment)
    assert held.status == "needs_review"
    assert held.succeeded_at is None and held.amount == 10000
    assert balances.balance_due(request) == 10000  # nothing counted
    assert db.session.scalar(sa.select(StripeEvent.status)) == "processed"
    assert review.summary(held) == shown
    alerts = _held_alerts(held)
    assert {(a.user_id, a.channel) for a in alerts} == {
        (user_id, channel) for user_id in admins for channel in ("in_app", "email")
    }
    assert all(shown.split(", ")[1].replace("Stripe reported ", "") in a.subject for a in alerts)
    held_page = "http://shop.test/admin/payments/?flt1_status_equals=needs_review"
    assert {a.context["link"] for a in alerts} == {held_page}
    customer_notes = sa.select(Notification).where(Notification.event == "payment_received")
    assert db.session.scalars(customer_notes).all() == []


def test_a_matching_report_does_not_release_a_held_payment(client, checkout):
    request, payment = checkout
    _send_success(client, "checkout", request, payment, 1, "usd")
    _send_success(client, "intent", request, payment, 10000, "usd")
    _send_success(client, "checkout", request, payment, 1, "usd")  # the same report again
    send_event(
        client,
        "payment_intent.payment_failed",
        intent_object("pi_1", payment.id, request.id, error="late"),
    )

    assert _reload(payment).status == "needs_review"
    assert balances.balance_due(request) == 10000
    admins = db.session.scalars(sa.select(Notification.user_id).distinct()).all()
    assert len(_held_alerts(payment)) == 2 * len([a for a in admins if a != request.customer_id])


def test_a_report_that_contradicts_a_counted_payment_takes_it_back_for_review(client, checkout):
    request, payment = checkout
    _send_success(client, "intent", request, payment, 10000, "usd")
    assert _reload(payment).status == "succeeded"

    _send_success(client, "checkout", request, payment, 1, "usd")

    assert _reload(payment).status == "needs_review"
    assert balances.balance_due(request) == 10000


def _admin_list(client) -> str:
    response = client.get("/admin/payments/?flt1_status_equals=needs_review")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _action(client, name: str, payment: Payment, **form):
    token = csrf_token(client, "/admin/payments/")
    return client.post(
        "/admin/payments/action/",
        data={"action": name, "rowid": [str(payment.id)], "csrf_token": token, **form},
    )


def test_the_back_office_shows_both_figures_and_accepts_the_reported_amount(app, client, checkout):
    request, payment = checkout
    _send_success(client, "checkout", request, payment, 9000, "usd")
    admin_client, _ = client_for(app, "admin")

    html = _admin_list(admin_client)
    assert "Expected $100.00 USD, Stripe reported $90.00 USD" in html
    assert "Needs review" in html

    response = _action(admin_client, "accept_reported", payment)

    assert response.status_code == 302
    accepted = _reload(payment)
    assert (accepted.status, accepted.amount) == ("succeeded", 9000)
    assert accepted.verified_by_id is not None
    assert balances.balance_due(request) == 1000  # the rest is still due
    actions = db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.object_id == str(payment.id))
    ).all()
    assert {"payment_needs_review", "payment_review_accepted", "payment_succeeded"} <= set(actions)
    received = sa.select(Notification).where(Notification.event == "payment_received")
    assert db.session.scalars(received).all()  # the customer hears of the money now


def test_another_currency_cannot_be_accepted_only_rejected(app, client, checkout):
    request, payment = checkout
    _send_success(client, "intent", request, payment, 50, "jpy")
    admin_client, _ = client_for(app, "admin")

    refused = _action(admin_client, "accept_reported", payment)
    assert refused.status_code == 302
    assert _reload(payment).status == "needs_review"
    page = admin_client.get(refused.headers["Location"]).get_data(as_text=True)
    assert "not the shop&#39;s currency" in page or "not the shop's currency" in page

    form = admin_client.post(
        "/admin/payments/action/",
        data={
            "action": "reject_review",
            "rowid": [str(payment.id)],
            "csrf_token": csrf_token(admin_client, "/admin/payments/"),
        },
    )
    assert form.status_code == 200 and 'name="reason"' in form.get_data(as_text=True)
    empty = _action(admin_client, "reject_review", payment, reason=" ")
    assert empty.status_code == 302 and _reload(payment).status == "needs_review"

    response = _action(admin_client, "reject_review", payment, reason="Charged in yen by mistake")

    assert response.status_code == 302
    rejected = _reload(payment)
    assert rejected.status == "failed"
    assert rejected.failure_reason == "Rejected after review: Charged in yen by mistake"
    assert balances.balance_due(request) == 10000


def _offline_payment(request) -> Payment:
    payment = Payment(
        service_request=request,
        customer_id=request.customer_id,
        method="cash",
        amount=500,
        currency="usd",
        status="succeeded",
    )
    db.session.add(payment)
    db.session.flush()
    return payment


def test_only_admins_resolve_a_held_payment(app, client, checkout):
    request, payment = checkout
    _send_success(client, "checkout", request, payment, 1, "usd")
    technician = factories.TechnicianFactory()
    db.session.commit()
    with pytest.raises(Forbidden):
        review.accept_reported(_reload(payment), technician)
    with pytest.raises(ValidationFailed):
        review.reject(_reload(payment), factories.UserFactory(role="admin"), "")
    with pytest.raises(Conflict):  # only a held payment is resolved this way
        review.accept_reported(_offline_payment(request), factories.UserFactory(role="admin"))
    tech_client, _ = client_for(app, technician)
    assert tech_client.get("/admin/payments/").status_code == 403
    assert _reload(payment).status == "needs_review"


def test_a_dashboard_refund_of_a_rejected_payment_changes_no_balance(app, client, checkout):
    request, payment = checkout
    _send_success(client, "intent", request, payment, 1, "usd")
    review.reject(_reload(payment), factories.UserFactory(role="admin"), "Wrong amount")
    db.session.commit()

    response = send_event(
        client,
        "charge.refunded",
        {
            "id": "ch_test_1",
            "object": "charge",
            "payment_intent": "pi_1",
            "amount": 1,
            "amount_refunded": 1,
            "refunds": {"data": [{"id": "re_1", "amount": 1, "status": "succeeded"}]},
        },
    )

    assert response.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(Refund.id))) == 0
    assert (
        db.session.scalar(
            sa.select(StripeEvent.status).where(StripeEvent.type == "charge.refunded")
        )
        == "processed"
    )
    assert balances.balance_due(request) == 10000
