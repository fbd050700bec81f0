"""Money taken for a repair or a counter sale: what the customer can pay now, cash, card
terminal or bank transfer recorded at the counter (an admin verifies it), and a payment's move
to succeeded (the customer hears of it) or failed.

Online payments start in ``stripe_gateway`` and succeed only through Stripe's verified webhook
(``webhooks``), never because the browser came back from Checkout.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from flask import current_app

from ...domain_errors import Conflict, Forbidden, ValidationFailed
from ...extensions import db
from ...labels import PAYMENT_METHOD, PAYMENT_STATE, label
from ...loading import Rows
from ...models import (
    ADMIN_ROLES,
    OFFLINE_METHODS,
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    RepairStatus,
    ServiceRequest,
    User,
    utcnow,
)
from .. import audit, notifications
from . import balances
from .amounts import is_amount
from .totals import currency


def method_label(method: str) -> str:
    """How a payment was made, in words."""
    return label(PAYMENT_METHOD, method)


def status_label(status: str) -> str:
    """A payment's state, in words."""
    return label(PAYMENT_STATE, status)


PURPOSES = tuple(PaymentPurpose)


# Before the repair starts a deposit may be asked for; later the customer pays the balance.
DEPOSIT_STATUSES = (RepairStatus.PENDING, RepairStatus.SCHEDULED)


def deposit_amount() -> int:
    """The booking deposit in minor units (config DEPOSIT_AMOUNT; 0 = deposits off)."""
    return int(current_app.config.get("DEPOSIT_AMOUNT") or 0)


# ---------------------------------------------------------------- what is owed


def deposit_rows(request: ServiceRequest) -> Rows:
    """The request's deposits already paid, or recorded at the counter and waiting for
    verification, as a list to read (``loading.load_lists``): any of them means the deposit
    is taken."""
    return Rows(
        Payment,
        [
            Payment.service_request_id == request.id,
            Payment.purpose == PaymentPurpose.DEPOSIT,
            sa.or_(
                Payment.status == PaymentStatus.SUCCEEDED,
                sa.and_(
                    Payment.status == PaymentStatus.PENDING, Payment.method != PaymentMethod.STRIPE
                ),
            ),
        ],
    )


def _deposit_taken(request: ServiceRequest) -> bool:
    """A deposit already paid, or recorded at the counter and waiting for verification."""
    return db.session.scalar(deposit_rows(request).select().limit(1)) is not None


def deposit_due(
    request: ServiceRequest, *, invoiced: Optional[int] = None, taken: Optional[bool] = None
) -> int:
    """The booking deposit the customer can pay now; raise Conflict when none is due.
    ``invoiced`` (what the repair's invoices come to) and ``taken`` (a deposit already
    taken, ``deposit_rows``) are read here unless the caller has them."""
    amount = deposit_amount()
    if amount <= 0:
        raise Conflict("This shop does not take booking deposits.")
    if (
        request.status not in DEPOSIT_STATUSES
        or (balances.invoiced_total(request) if invoiced is None else invoiced) > 0
    ):
        raise Conflict(f"A deposit is only taken before the repair of {request.reference}.")
    if _deposit_taken(request) if taken is None else taken:
        raise Conflict(f"The deposit for {request.reference} has already been paid.")
    return amount


def amount_for(request: ServiceRequest, purpose: str) -> int:
    """What the customer pays now for ``purpose``; raise when there is nothing to pay."""
    if purpose == PaymentPurpose.BALANCE:
        due = balances.balance_due(request)
        if due <= 0:
            raise Conflict(f"There is nothing to pay on {request.reference} right now.")
        return due
    if purpose == PaymentPurpose.DEPOSIT:
        return deposit_due(request)
    raise ValidationFailed("Unknown payment purpose.", fields={"purpose": ["balance or deposit"]})


def what_is_due(request: ServiceRequest) -> Optional[tuple[str, int]]:
    """(purpose, amount) the customer can pay now, or None: the balance, else a deposit."""
    for purpose in PURPOSES:
        try:
            return purpose, amount_for(request, purpose)
        except Conflict:
            continue
    return None


# ---------------------------------------------------------------- state changes


def mark_succeeded(payment: Payment, actor: Optional[User] = None) -> bool:
    """Move a payment to succeeded (once), link it to the invoice and tell the customer."""
    if payment.status == PaymentStatus.SUCCEEDED:
        return False
    before = {"status": payment.status}
    payment.status = PaymentStatus.SUCCEEDED
    payment.succeeded_at = utcnow()
    payment.failure_reason = None
    if payment.invoice_id is None and payment.service_request_id is not None:
        payment.invoice_id = db.session.scalar(
            sa.select(Invoice.id)
            .where(
                Invoice.service_request_id == payment.service_request_id,
                Invoice.kind == InvoiceKind.INVOICE,
                Invoice.status == InvoiceStatus.ISSUED,
            )
            .order_by(Invoice.id.desc())
            .limit(1)
        )
    audit.record(
        actor,
        "payment_succeeded",
        payment,
        before=before,
        after={"status": PaymentStatus.SUCCEEDED},
    )
    db.session.flush()
    request = payment.service_request
    if request is None or payment.customer is None:
        return True  # a walk-in sale: the buyer takes the receipt at the counter
    notifications.notify(
        payment.customer,
        "payment_received",
        dedup_key=f"payment_received:{payment.id}",
        service_request=request,
        context={"attachments": [{"kind": "receipt", "payment_id": payment.id}]},
        values={"payment": payment},
    )
    return True


def mark_failed(
    payment: Payment, reason: Optional[str], *, status: str = PaymentStatus.FAILED
) -> bool:
    """Record a failed or canceled attempt; a succeeded payment never moves back."""
    if payment.status == PaymentStatus.SUCCEEDED or payment.status == status:
        return False
    if payment.status == PaymentStatus.CANCELED and status == PaymentStatus.FAILED:
        return False
    payment.status = status
    payment.failure_reason = (reason or None) and reason[:300]
    audit.record(None, f"payment_{status}", payment, after={"reason": payment.failure_reason})
    return True


# ---------------------------------------------------------------- at the counter


def record_offline_payment(
    request: Optional[ServiceRequest],
    *,
    amount: int,
    method: str,
    actor: User,
    reference: Optional[str] = None,
    purpose: str = PaymentPurpose.BALANCE,
    invoice: Optional[Invoice] = None,
) -> Payment:
    """Staff record cash, card-terminal or bank-transfer money; it waits for an admin's check.

    The money is for a repair, or (``request`` None) for ``invoice``: a walk-in sale.
    """
    if actor is None or not actor.is_staff:
        raise Forbidden("Only staff record payments.")
    if request is None and invoice is None:
        raise ValidationFailed("Say what the payment is for: a repair or an invoice.")
    errors: dict[str, list[str]] = {}
    if method not in OFFLINE_METHODS:
        errors["method"] = [f"Choose one of: {', '.join(map(method_label, OFFLINE_METHODS))}."]
    if not is_amount(amount):
        errors["amount"] = ["Give a positive amount."]
    reference = (reference or "").strip() or None
    if reference and len(reference) > 100:
        errors["reference"] = ["At most 100 characters."]
    if purpose not in PURPOSES:
        errors["purpose"] = ["balance or deposit"]
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)
    payment = Payment(
        service_request=request,
        invoice_id=invoice.id if invoice is not None else None,
        customer_id=request.customer_id if request is not None else invoice.customer_id,
        method=method,
        purpose=purpose,
        amount=amount,
        currency=currency(),
        status=PaymentStatus.PENDING,
        reference=reference,
        recorded_by=actor,
    )
    db.session.add(payment)
    db.session.flush()
    audit.record(
        actor,
        "payment_recorded",
        payment,
        after={"amount": amount, "method": method, "reference": reference},
    )
    admins = db.session.scalars(
        sa.select(User).where(User.role.in_(ADMIN_ROLES), User.active.is_(True))
    ).all()
    for admin in admins:
        notifications.notify(
            admin,
            "payment_to_verify",
            dedup_key=f"payment_to_verify:{payment.id}:{admin.id}",
            service_request=request,
            context={"payment_id": payment.id},
            channels=["in_app"],
            values={
                "payment": payment,
                "method": method_label(method),
                "recorded_by": actor,
                "invoice": invoice,
            },
        )
    return payment


def verify_payment(payment: Payment, actor: User) -> Payment:
    """An admin confirms a counter payment: it counts from now on (who and when recorded)."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin verifies payments.")
    if payment.method not in OFFLINE_METHODS:
        raise Conflict("Online payments are confirmed by Stripe, not by hand.")
    if payment.status != PaymentStatus.PENDING:
        raise Conflict(f"This payment is already {payment.status}.")
    payment.verified_by = actor
    payment.verified_at = utcnow()
    mark_succeeded(payment, actor)
    return payment


def reject_payment(payment: Payment, actor: User, reason: str) -> Payment:
    """An admin refuses a counter payment that cannot be matched (wrong amount, no transfer)."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin rejects payments.")
    if payment.method not in OFFLINE_METHODS or payment.status != PaymentStatus.PENDING:
        raise Conflict("Only a counter payment waiting for verification can be rejected.")
    if not (reason or "").strip():
        raise ValidationFailed("Say why the payment is rejected.", fields={"reason": ["Required."]})
    payment.verified_by = actor
    payment.verified_at = utcnow()
    mark_failed(payment, reason.strip())
    return payment
