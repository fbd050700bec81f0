"""Stripe's webhook events: stored once by id, then applied to our payments and refunds.

Events may come twice or out of order (a ``payment_intent.succeeded`` before its
``checkout.session.completed``, a ``charge.refunded`` before our refund row is committed), so
every handler only moves state forward and answers "deferred" when it cannot tell yet which of
our rows the event is about; deferred events are replayed later (``fixmyphone.jobs``).

Money is checked, not trusted: a succeeded event counts only when the amount and currency it
reports are the payment's own; otherwise the payment is held for an admin's review
(``review``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Optional

import sqlalchemy as sa
import stripe

from ...extensions import db
from ...models import (
    Payment,
    PaymentMethod,
    PaymentStatus,
    Refund,
    RefundStatus,
    StripeEvent,
    StripeEventStatus,
    utcnow,
)
from . import payments, refunds, review

log = logging.getLogger(__name__)

Obj = dict[str, Any]


def _meta_id(obj: Obj, key: str) -> Optional[int]:
    value = (obj.get("metadata") or {}).get(key)
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _id(value: Any) -> Optional[str]:
    """An expandable Stripe field: either the id string or the expanded object."""
    if isinstance(value, dict):
        return value.get("id")
    return value


def _stripe_payment(payment_id: Optional[int]) -> Optional[Payment]:
    if payment_id is None:
        return None
    payment = db.session.get(Payment, payment_id)
    return payment if payment is not None and payment.method == PaymentMethod.STRIPE else None


def _payment_for_session(session: Obj) -> Optional[Payment]:
    payment = db.session.scalar(
        sa.select(Payment).where(Payment.stripe_checkout_session_id == session.get("id"))
    )
    return payment or _stripe_payment(_meta_id(session, "payment_id"))


def _payment_for_intent(intent_id: Optional[str], obj: Obj) -> Optional[Payment]:
    if intent_id:
        payment = db.session.scalar(
            sa.select(Payment).where(Payment.stripe_payment_intent_id == intent_id)
        )
        if payment is not None:
            return payment
    return _stripe_payment(_meta_id(obj, "payment_id"))


def _payment_for_charge(charge_id: Optional[str], intent_id: Optional[str]) -> Optional[Payment]:
    if charge_id:
        payment = db.session.scalar(sa.select(Payment).where(Payment.stripe_charge_id == charge_id))
        if payment is not None:
            return payment
    if intent_id:
        return db.session.scalar(
            sa.select(Payment).where(Payment.stripe_payment_intent_id == intent_id)
        )
    return None


def _unknown(obj: Obj, what: str) -> str:
    """Ours (metadata names a payment) but not visible yet → wait; otherwise not ours."""
    if _meta_id(obj, "payment_id") is not None:
        return StripeEventStatus.DEFERRED
    log.info("stripe %s %s matches no payment of ours; ignored", what, obj.get("id"))
    return StripeEventStatus.PROCESSED


# ---------------------------------------------------------------- payments


def _succeeded(payment: Payment, obj: Obj, amount_key: str, source: str) -> None:
    """Count the payment if Stripe charged exactly its amount and currency; else hold it."""
    amount, currency = review.reported(obj, amount_key)
    if not review.matches(payment, amount, currency):
        review.hold(payment, amount, currency, source=source, stripe_object=obj.get("id"))
        return
    if payment.status == PaymentStatus.NEEDS_REVIEW:
        return  # a matching report does not overrule a disagreeing one: an admin decides
    payments.mark_succeeded(payment)


def checkout_completed(session: Obj) -> str:
    """Checkout finished: paid now (cards), or later by an async method."""
    if session.get("mode") != "payment":
        # Setup mode: Stripe attached the card to the customer itself.
        return StripeEventStatus.PROCESSED
    payment = _payment_for_session(session)
    if payment is None:
        return _unknown(session, "checkout session")
    intent = _id(session.get("payment_intent"))
    if intent and not payment.stripe_payment_intent_id:
        payment.stripe_payment_intent_id = intent
    if session.get("payment_status") in ("paid", "no_payment_required"):
        _succeeded(payment, session, "amount_total", "Checkout Session amount_total")
    return StripeEventStatus.PROCESSED


def checkout_async_failed(session: Obj) -> str:
    """A delayed payment method (bank debit) failed after Checkout."""
    payment = _payment_for_session(session)
    if payment is None:
        return _unknown(session, "checkout session")
    if payment.status != PaymentStatus.NEEDS_REVIEW:  # money was reported taken: an admin decides
        payments.mark_failed(payment, "The payment could not be completed.")
    return StripeEventStatus.PROCESSED


def checkout_expired(session: Obj) -> str:
    """The customer never paid; the session is closed."""
    payment = _payment_for_session(session)
    if payment is None:
        return _unknown(session, "checkout session")
    if payment.status == PaymentStatus.PENDING:
        payments.mark_failed(payment, "Checkout expired unpaid.", status=PaymentStatus.CANCELED)
    return StripeEventStatus.PROCESSED


def intent_succeeded(intent: Obj) -> str:
    """Money captured: the payment succeeded (even if Checkout's own event is still to come)."""
    payment = _payment_for_intent(intent.get("id"), intent)
    if payment is None:
        return _unknown(intent, "payment intent")
    payment.stripe_payment_intent_id = payment.stripe_payment_intent_id or intent.get("id")
    charge = _id(intent.get("latest_charge"))
    if charge and not payment.stripe_charge_id:
        payment.stripe_charge_id = charge
    _succeeded(payment, intent, "amount_received", "PaymentIntent amount_received")
    return StripeEventStatus.PROCESSED


def intent_failed(intent: Obj) -> str:
    """An attempt failed (declined card); Checkout lets the customer try again."""
    payment = _payment_for_intent(intent.get("id"), intent)
    if payment is None:
        return _unknown(intent, "payment intent")
    payment.stripe_payment_intent_id = payment.stripe_payment_intent_id or intent.get("id")
    if payment.status != PaymentStatus.NEEDS_REVIEW:  # money was reported taken: an admin decides
        error = intent.get("last_payment_error") or {}
        payments.mark_failed(payment, error.get("message") or "The card was declined.")
    return StripeEventStatus.PROCESSED


# ---------------------------------------------------------------- refunds


def _apply_refund(refund: Obj, payment: Optional[Payment] = None) -> str:
    """Bring one of our refund rows in line with a Stripe refund object."""
    row = db.session.scalar(sa.select(Refund).where(Refund.stripe_refund_id == refund.get("id")))
    if row is None:
        ours = _meta_id(refund, "refund_id")
        if ours is not None:
            candidate = db.session.get(Refund, ours)
            if candidate is None or candidate.stripe_refund_id not in (None, refund.get("id")):
                return StripeEventStatus.DEFERRED  # our refund() has not committed its row yet
            row = candidate
            row.stripe_refund_id = refund.get("id")
        else:
            # Made in the Stripe Dashboard: record it so the balance stays right.
            payment = payment or _payment_for_charge(
                _id(refund.get("charge")), _id(refund.get("payment_intent"))
            )
            if payment is None:
                return StripeEventStatus.DEFERRED
            # Stripe words a refund's state as we store it, plus requires_action.
            if refund.get("status") not in (
                RefundStatus.PENDING,
                RefundStatus.SUCCEEDED,
                "requires_action",
            ):
                return StripeEventStatus.PROCESSED
            if (held := _not_counted(payment)) is not None:
                return held
            row = Refund(
                payment_id=payment.id,
                amount=int(refund.get("amount") or 0),
                currency=payment.currency,
                status=RefundStatus.PENDING,
                reason="Refunded in the Stripe Dashboard",
                stripe_refund_id=refund.get("id"),
            )
            db.session.add(row)
            db.session.flush()
    status = refund.get("status")
    if status == RefundStatus.SUCCEEDED:
        refunds.confirm_refund(row)
    elif status in (RefundStatus.FAILED, RefundStatus.CANCELED):
        refunds.fail_refund(row, RefundStatus(status))
    return StripeEventStatus.PROCESSED


def _not_counted(payment: Payment) -> Optional[str]:
    """A Dashboard refund of money the shop never counted changes no balance: ignored for a
    rejected payment, kept waiting while an admin reviews one; None for a counted payment."""
    if payment.status == PaymentStatus.NEEDS_REVIEW:
        return StripeEventStatus.DEFERRED
    if payment.status in (PaymentStatus.FAILED, PaymentStatus.CANCELED):
        log.info(
            "stripe refund on payment %s (%s): not counted, ignored", payment.id, payment.status
        )
        return StripeEventStatus.PROCESSED
    return None


def refund_changed(refund: Obj) -> str:
    """refund.created / refund.updated / refund.failed / charge.refund.updated."""
    return _apply_refund(refund)


def charge_refunded(charge: Obj) -> str:
    """Money went back on a charge; confirm our pending refunds up to ``amount_refunded``."""
    payment = _payment_for_charge(charge.get("id"), _id(charge.get("payment_intent")))
    if payment is None:
        return StripeEventStatus.DEFERRED
    if (held := _not_counted(payment)) is not None:
        return held
    if not payment.stripe_charge_id:
        payment.stripe_charge_id = charge.get("id")
    outcome = StripeEventStatus.PROCESSED
    for refund in (charge.get("refunds") or {}).get("data") or []:
        if _apply_refund(refund, payment) == StripeEventStatus.DEFERRED:
            outcome = StripeEventStatus.DEFERRED
    refunded = int(charge.get("amount_refunded") or 0)
    rows = db.session.scalars(
        sa.select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.id)
    ).all()
    confirmed = sum(r.amount for r in rows if r.status == RefundStatus.SUCCEEDED)
    for row in rows:
        if (
            row.status == RefundStatus.PENDING
            and row.stripe_refund_id
            and (confirmed + row.amount <= refunded)
        ):
            refunds.confirm_refund(row)
            confirmed += row.amount
    if confirmed < refunded:
        # A refund we do not know yet (ours, about to be committed).
        outcome = StripeEventStatus.DEFERRED
    return outcome


HANDLERS: dict[str, Callable[[Obj], str]] = {
    "checkout.session.completed": checkout_completed,
    "checkout.session.async_payment_succeeded": checkout_completed,
    "checkout.session.async_payment_failed": checkout_async_failed,
    "checkout.session.expired": checkout_expired,
    "payment_intent.succeeded": intent_succeeded,
    "payment_intent.payment_failed": intent_failed,
    "charge.refunded": charge_refunded,
    "charge.refund.updated": refund_changed,
    "refund.created": refund_changed,
    "refund.updated": refund_changed,
    "refund.failed": refund_changed,
}


def is_handled(event_type: str) -> bool:
    """True for the event types this shop acts on; others are recorded as ignored."""
    return event_type in HANDLERS


def apply_event(event_type: str, obj: Obj) -> str:
    """Run the handler of ``event_type``: "processed", "deferred" or "ignored"."""
    handler = HANDLERS.get(event_type)
    if handler is None:
        return StripeEventStatus.IGNORED
    return handler(obj)


# ---------------------------------------------------------------- stored events


def record_event(event: stripe.Event) -> tuple[StripeEvent, bool]:
    """Store a verified event by id first; (row, True) when new, (existing row, False) if seen."""
    payload = event.to_dict()
    existing = db.session.get(StripeEvent, payload["id"])
    if existing is not None:
        return existing, False
    created = payload.get("created")
    row = StripeEvent(
        id=payload["id"],
        type=payload["type"],
        created=datetime.fromtimestamp(int(created), UTC) if created else None,
        payload=payload,
        status=(
            StripeEventStatus.RECEIVED if is_handled(payload["type"]) else StripeEventStatus.IGNORED
        ),
    )
    if row.status == StripeEventStatus.IGNORED:
        row.processed_at = utcnow()
    db.session.add(row)
    return row, True


def handle_event(event_id: str) -> None:
    """Apply one stored Stripe event (the job body); idempotent and safe out of order."""
    row = db.session.scalar(
        sa.select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
    )
    if row is None or row.status not in (StripeEventStatus.RECEIVED, StripeEventStatus.DEFERRED):
        return
    outcome = apply_event(row.type, (row.payload.get("data") or {}).get("object") or {})
    row.status = outcome
    if outcome != StripeEventStatus.DEFERRED:
        row.processed_at = utcnow()
