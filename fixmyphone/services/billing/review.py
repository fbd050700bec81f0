"""Stripe money that differs from the payment it names: held for an admin's review.

A succeeded Stripe event reports what was really charged: ``amount_total`` and ``currency`` of
a Checkout Session, ``amount_received`` and ``currency`` of a PaymentIntent. When that is not
the payment's own amount and currency (a tampered or stale checkout, a currency mix-up), the
payment is not applied: it moves to ``needs_review`` so the balance stays due, the admins are
alerted (in the app and by email), and the back office shows both figures until an admin
accepts the reported amount (same currency only) or rejects the payment.
"""

from __future__ import annotations

from typing import Any, Optional

import sqlalchemy as sa

from ... import links
from ...domain_errors import Conflict, Forbidden, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...models import (
    AuditLog,
    Payment,
    PaymentStatus,
    User,
    utcnow,
)
from .. import audit, notifications
from . import payments

HELD = "payment_needs_review"


def money(amount: Optional[int], currency: Optional[str]) -> str:
    """An amount with its currency code, as staff compare them: '$109.00 USD'."""
    if amount is None or not currency:
        return "no amount"
    text = format_money(amount, currency)
    code = currency.upper()
    return text if text.startswith(code) else f"{text} {code}"


def reported(obj: dict[str, Any], amount_key: str) -> tuple[Optional[int], Optional[str]]:
    """(amount, currency) a Stripe object says was charged; None for what it does not say."""
    amount = obj.get(amount_key)
    currency = obj.get("currency")
    if not isinstance(amount, int) or isinstance(amount, bool):
        amount = None
    currency = currency.lower() if isinstance(currency, str) and currency else None
    return amount, currency


def matches(payment: Payment, amount: Optional[int], currency: Optional[str]) -> bool:
    """True when Stripe charged exactly the payment's amount in its currency."""
    return amount == payment.amount and currency == (payment.currency or "").lower()


def hold(
    payment: Payment,
    amount: Optional[int],
    currency: Optional[str],
    *,
    source: str,
    stripe_object: Optional[str] = None,
) -> bool:
    """Keep ``payment`` out of the balance until an admin decides; alert the admins once per
    report. False when it already waits with these same figures."""
    if payment.status == PaymentStatus.NEEDS_REVIEW and reported_figures(payment) == (
        amount,
        currency,
    ):
        return False
    expected = money(payment.amount, payment.currency)
    got = money(amount, currency)
    before = {"status": payment.status}
    payment.status = PaymentStatus.NEEDS_REVIEW
    payment.failure_reason = f"Expected {expected}, Stripe reported {got}."
    audit.record(
        None,
        HELD,
        payment,
        before=before,
        after={
            "status": PaymentStatus.NEEDS_REVIEW,
            "expected_amount": payment.amount,
            "expected_currency": payment.currency,
            "reported_amount": amount,
            "reported_currency": currency,
            "source": source,
            "stripe_object": stripe_object,
        },
    )
    db.session.flush()
    request = payment.service_request
    notifications.alert_staff(
        HELD,
        dedup_key=f"{HELD}:{payment.id}:{amount}:{currency}",
        service_request=request,
        channels=("in_app", "email"),
        context={
            "payment_id": payment.id,
            # Open leads to the held payments in the back office, where they are resolved.
            "link": links.payments_url(PaymentStatus.NEEDS_REVIEW),
        },
        values={
            "what": request.reference if request is not None else f"Payment {payment.id}",
            "expected": expected,
            "got": got,
            "source": source,
        },
    )
    return True


def reported_figures(payment: Payment) -> Optional[tuple[Optional[int], Optional[str]]]:
    """(amount, currency) of the latest report that put ``payment`` on hold, or None."""
    entry = db.session.scalar(
        sa.select(AuditLog)
        .where(
            AuditLog.action == HELD,
            AuditLog.object_type == "Payment",
            AuditLog.object_id == str(payment.id),
        )
        .order_by(AuditLog.id.desc())
        .limit(1)
    )
    if entry is None or not entry.after:
        return None
    return entry.after.get("reported_amount"), entry.after.get("reported_currency")


def summary(payment: Payment) -> str:
    """'Expected $109.00 USD, Stripe reported $0.01 USD' for a payment on hold, else ''."""
    if payment.status != PaymentStatus.NEEDS_REVIEW:
        return ""
    figures = reported_figures(payment)
    got = money(*figures) if figures else "another amount"
    return f"Expected {money(payment.amount, payment.currency)}, Stripe reported {got}"


def _check_admin(actor: Optional[User], payment: Payment) -> None:
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin resolves a payment held for review.")
    if payment.status != PaymentStatus.NEEDS_REVIEW:
        raise Conflict("This payment is not waiting for a review.")


def accept_reported(payment: Payment, actor: User) -> Payment:
    """The admin accepts what Stripe charged: the payment counts for the reported amount."""
    _check_admin(actor, payment)
    figures = reported_figures(payment)
    amount, currency = figures if figures else (None, None)
    if not isinstance(amount, int) or amount <= 0:
        raise Conflict("Stripe reported no amount to accept; reject the payment instead.")
    if currency != (payment.currency or "").lower():
        raise Conflict(
            f"Stripe charged {money(amount, currency)}, not the shop's currency: refund it in "
            "the Stripe Dashboard and reject the payment here."
        )
    before = {"status": payment.status, "amount": payment.amount}
    payment.amount = amount
    payment.status = PaymentStatus.PENDING
    payment.verified_by = actor
    payment.verified_at = utcnow()
    audit.record(actor, "payment_review_accepted", payment, before=before, after={"amount": amount})
    payments.mark_succeeded(payment, actor)
    return payment


def reject(payment: Payment, actor: User, reason: Optional[str]) -> Payment:
    """The admin refuses the payment: it never counts (money taken is refunded in Stripe)."""
    _check_admin(actor, payment)
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed("Say why the payment is rejected.", fields={"reason": ["Required."]})
    if len(reason) > 250:
        raise ValidationFailed("The reason is too long.", fields={"reason": ["At most 250."]})
    payment.verified_by = actor
    payment.verified_at = utcnow()
    audit.record(actor, "payment_review_rejected", payment, after={"reason": reason})
    payments.mark_failed(payment, f"Rejected after review: {reason}")
    return payment
