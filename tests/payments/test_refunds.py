"""Refunds: Stripe ones through the API confirmed by webhook, counter ones at once, never too much."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, Forbidden, ValidationFailed
from fixmyphone.extensions import db
from fixmyphone.models import Invoice, Payment, Refund, StripeEvent
from fixmyphone.services.billing import balances, payments, refunds, stripe_gateway
from tests import factories

from .conftest import intent_object, invoiced_request, send_event


@pytest.fixture
def admin(app):
    return factories.UserFactory(role="admin")


@pytest.fixture
def paid_online(app, customer, client, stripe_fake):
    """A repair invoiced at 10000 and paid through Stripe (confirmed by webhook)."""
    request, _ = invoiced_request(customer)
    stripe_gateway.start_checkout(request, customer)
    db.session.commit()
    payment = db.session.scalars(sa.select(Payment)).one()
    send_event(
        client,
        "payment_intent.succeeded",
        intent_object("pi_paid", payment.id, request.id, charge="ch_paid"),
    )
    db.session.expire_all()
    payment = db.session.get(Payment, payment.id)
    assert payment.status == "succeeded"
    stripe_fake.requests.clear()
    return request, payment


def _refunded(request, paid: int = 10000) -> int:
    """What was refunded, as the books show it: that much less paid, and the same credited on
    the invoice (a credit note), so the customer does not owe it again."""
    credited = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Invoice.total), 0)).where(
            Invoice.service_request_id == request.id, Invoice.kind == "credit_note"
        )
    )
    refunded = paid - balances.paid_total(request)
    assert credited == refunded
    assert balances.balance_due(request) == 0
    return refunded


def _charge(amount_refunded: int, refunds: list | None = None) -> dict:
    obj = {
        "id": "ch_paid",
        "object": "charge",
        "payment_intent": "pi_paid",
        "amount": 10000,
        "amount_refunded": amount_refunded,
        "refunded": amount_refunded == 10000,
    }
    if refunds is not None:
        obj["refunds"] = {"object": "list", "data": refunds}
    return obj


def test_a_stripe_refund_is_sent_to_the_api_and_waits_for_the_webhook(
    client, paid_online, admin, stripe_fake
):
    request, payment = paid_online

    row = refunds.refund(payment, amount=2500, actor=admin, reason="Cracked bezel left")
    db.session.commit()

    (call,) = stripe_fake.calls("POST", "/v1/refunds")
    assert call.params == {
        "amount": "2500",
        "payment_intent": "pi_paid",
        "metadata[refund_id]": str(row.id),
        "metadata[payment_id]": str(payment.id),
    }
    assert row.status == "pending"
    assert row.stripe_refund_id.startswith("re_test_")
    assert balances.balance_due(request) == 0  # pending refunds do not count yet

    send_event(client, "charge.refunded", _charge(2500))

    db.session.expire_all()
    assert db.session.get(Refund, row.id).status == "succeeded"
    assert _refunded(request) == 2500


def test_refund_updated_confirms_and_failed_refunds_stay_out_of_the_balance(
    client, paid_online, admin
):
    request, payment = paid_online
    ok = refunds.refund(payment, amount=1000, actor=admin)
    bad = refunds.refund(payment, amount=2000, actor=admin)
    db.session.commit()

    for row, status in ((ok, "succeeded"), (bad, "failed")):
        send_event(
            client,
            "refund.updated",
            {
                "id": row.stripe_refund_id,
                "object": "refund",
                "amount": row.amount,
                "status": status,
                "payment_intent": "pi_paid",
                "metadata": {"refund_id": str(row.id)},
            },
        )

    db.session.expire_all()
    assert db.session.get(Refund, ok.id).status == "succeeded"
    assert db.session.get(Refund, bad.id).status == "failed"
    assert _refunded(request) == 1000
    # A failed refund frees the money to refund again.
    assert balances.refundable_amount(db.session.get(Payment, payment.id)) == 9000


def test_charge_refunded_before_the_refund_row_exists(client, paid_online, admin, stripe_fake):
    """Stripe's webhook can beat our commit: it waits, and is applied once the row lands."""
    request, payment = paid_online
    next_id = stripe_fake.next_refund_id = "re_known_next"

    early = send_event(
        client,
        "charge.refunded",
        _charge(
            4000,
            refunds=[
                {
                    "id": next_id,
                    "object": "refund",
                    "amount": 4000,
                    "status": "succeeded",
                    "charge": "ch_paid",
                    "metadata": {"refund_id": "1", "payment_id": str(payment.id)},
                }
            ],
        ),
    )
    assert early.status_code == 200
    event = db.session.scalars(sa.select(StripeEvent)).all()[-1]
    assert event.status == "deferred"
    assert db.session.scalars(sa.select(Refund)).all() == []

    row = refunds.refund(payment, amount=4000, actor=admin)
    db.session.commit()  # the after-commit job replays deferred events

    db.session.expire_all()
    assert row.stripe_refund_id == next_id
    assert db.session.get(Refund, row.id).status == "succeeded"
    assert db.session.get(StripeEvent, event.id).status == "processed"
    assert _refunded(request) == 4000
    assert db.session.scalar(sa.select(sa.func.count(Refund.id))) == 1


def test_a_repeated_charge_refunded_does_not_double_count(client, paid_online, admin):
    request, payment = paid_online
    refunds.refund(payment, amount=3000, actor=admin)
    db.session.commit()
    send_event(client, "charge.refunded", _charge(3000), event_id="evt_r1")
    send_event(client, "charge.refunded", _charge(3000), event_id="evt_r1")
    send_event(client, "charge.refunded", _charge(3000))
    assert _refunded(request) == 3000


def test_a_dashboard_refund_is_recorded(client, paid_online):
    request, _payment = paid_online
    send_event(
        client,
        "refund.created",
        {
            "id": "re_dash",
            "object": "refund",
            "amount": 1500,
            "status": "succeeded",
            "charge": "ch_paid",
            "payment_intent": "pi_paid",
            "metadata": {},
        },
    )
    row = db.session.scalars(sa.select(Refund)).one()
    assert (row.stripe_refund_id, row.amount, row.status) == ("re_dash", 1500, "succeeded")
    assert _refunded(request) == 1500


@pytest.mark.parametrize("amount", [0, -5, 10001, "100", True])
def test_never_more_than_paid_and_positive_only(paid_online, admin, amount, stripe_fake):
    _request, payment = paid_online
    with pytest.raises(ValidationFailed):
        refunds.refund(payment, amount=amount, actor=admin)
    assert stripe_fake.calls("POST", "/v1/refunds") == []


def test_pending_and_succeeded_refunds_both_count_against_the_limit(paid_online, admin):
    _request, payment = paid_online
    refunds.refund(payment, amount=6000, actor=admin)
    with pytest.raises(ValidationFailed, match=r"At most \$40.00"):
        refunds.refund(payment, amount=4001, actor=admin)
    refunds.refund(payment, amount=4000, actor=admin)
    assert balances.refundable_amount(payment) == 0


def test_a_stripe_error_saves_no_refund(paid_online, admin, stripe_fake):
    _request, payment = paid_online
    stripe_fake.fail_next = (500, "boom")
    with pytest.raises(stripe_gateway.PaymentProviderError):
        refunds.refund(payment, amount=100, actor=admin)
    assert db.session.scalars(sa.select(Refund)).all() == []


def test_only_admins_refund(paid_online, technician):
    _request, payment = paid_online
    with pytest.raises(Forbidden):
        refunds.refund(payment, amount=100, actor=technician)


def test_offline_refund_is_immediate_and_the_balance_is_right(app, customer, admin, stripe_fake):
    request, _ = invoiced_request(customer)
    cash = payments.record_offline_payment(request, amount=10000, method="cash", actor=admin)
    payments.verify_payment(cash, admin)
    assert balances.balance_due(request) == 0

    row = refunds.refund(cash, amount=2000, actor=admin, reason="Goodwill")

    assert row.status == "succeeded"
    assert stripe_fake.requests == []
    assert _refunded(request) == 2000
    assert balances.paid_total(request) == 8000


def test_a_pending_payment_cannot_be_refunded(app, customer, admin):
    request, _ = invoiced_request(customer)
    cash = payments.record_offline_payment(request, amount=500, method="cash", actor=admin)
    with pytest.raises(Conflict):
        refunds.refund(cash, amount=100, actor=admin)
