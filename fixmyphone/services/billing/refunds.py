"""Giving money back, fully or partly: online payments through Stripe's API (confirmed by its
webhook), counter payments recorded at once; never more than was paid less what was already
refunded. Invoiced money given back is credited on the invoice (``credit_notes``).
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
import stripe

from ...domain_errors import Conflict, Forbidden, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...models import (
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
    User,
)
from ...queue import enqueue_after_commit
from .. import audit, notifications
from .amounts import is_amount
from .balances import refundable_amount
from .credit_notes import credit_for_refund
from .stripe_gateway import provider_failed, stripe_client


def refund(payment: Payment, *, amount: int, actor: User, reason: Optional[str] = None) -> Refund:
    """Give money back, fully or partly: Stripe through its API (confirmed by webhook),
    counter payments recorded at once. Never more than paid minus already refunded."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin refunds payments.")
    if not is_amount(amount):
        raise ValidationFailed(
            "The refund must be a positive amount.", fields={"amount": ["Must be positive."]}
        )
    reason = (reason or "").strip() or None
    if reason and len(reason) > 300:
        raise ValidationFailed("The reason is too long.", fields={"reason": ["At most 300."]})
    # Lock the payment so two admins cannot both refund the same money.
    db.session.scalar(sa.select(Payment.id).where(Payment.id == payment.id).with_for_update())
    if payment.status != PaymentStatus.SUCCEEDED:
        raise Conflict("Only a succeeded payment can be refunded.")
    available = refundable_amount(payment)
    if amount > available:
        message = f"At most {format_money(available, payment.currency)} can still be refunded."
        raise ValidationFailed(message, fields={"amount": [message]})
    row = Refund(
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        actor_id=actor.id,
        status=RefundStatus.PENDING,
    )
    if payment.method == PaymentMethod.STRIPE:
        _refund_online(payment, row)
    else:
        db.session.add(row)
        db.session.flush()
        confirm_refund(row)
    audit.record(
        actor,
        "refund_requested" if row.status == RefundStatus.PENDING else "refund_recorded",
        row,
        after={"payment_id": payment.id, "amount": amount, "reason": reason},
    )
    return row


def _refund_online(payment: Payment, row: Refund) -> None:
    client = stripe_client()
    savepoint = db.session.begin_nested()
    db.session.add(row)
    db.session.flush()
    params: dict = {
        "amount": row.amount,
        "metadata": {"refund_id": str(row.id), "payment_id": str(payment.id)},
    }
    if payment.stripe_payment_intent_id:
        params["payment_intent"] = payment.stripe_payment_intent_id
    elif payment.stripe_charge_id:
        params["charge"] = payment.stripe_charge_id
    else:
        savepoint.rollback()
        raise Conflict("This payment has no Stripe payment reference; refund it in Stripe.")
    try:
        result = client.v1.refunds.create(params=params)
    except stripe.StripeError as exc:
        savepoint.rollback()
        raise provider_failed("refund", exc) from exc
    savepoint.commit()
    row.stripe_refund_id = result.id
    # A webhook that came before this row was committed waits as "deferred"; replay it.
    enqueue_after_commit("fixmyphone.jobs.replay_deferred_events")


def confirm_refund(row: Refund) -> bool:
    """Mark a refund succeeded (once) and tell the customer."""
    if row.status == RefundStatus.SUCCEEDED:
        return False
    row.status = RefundStatus.SUCCEEDED
    db.session.flush()
    # Invoiced money given back is credited on the invoice (a credit note), so the balance
    # and the books stay right; refunding an overpayment needs none.
    credit_for_refund(row)
    payment = row.payment
    request = payment.service_request
    if request is None or payment.customer is None:
        return True  # a walk-in sale: the money is handed back at the counter
    notifications.notify(
        payment.customer,
        "refund_issued",
        dedup_key=f"refund_issued:{row.id}",
        service_request=request,
        values={"refund": row},
    )
    return True


def fail_refund(row: Refund, status: str = RefundStatus.FAILED) -> bool:
    """A pending refund Stripe could not carry out; a succeeded one never moves back."""
    if row.status != RefundStatus.PENDING:
        return False
    row.status = status
    audit.record(None, "refund_failed", row, after={"status": status})
    return True
