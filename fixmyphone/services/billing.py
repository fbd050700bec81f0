"""What a repair costs and what is still owed."""

from __future__ import annotations

import sqlalchemy as sa

from ..extensions import db
from ..models import PAYMENT_SUCCEEDED, Invoice, Payment, Refund, ServiceRequest


def invoiced_total(request: ServiceRequest) -> int:
    """Issued invoices minus credit notes for a request, in minor units."""
    signed = sa.case((Invoice.kind == "credit_note", -Invoice.total), else_=Invoice.total)
    stmt = sa.select(sa.func.coalesce(sa.func.sum(signed), 0)).where(
        Invoice.service_request_id == request.id, Invoice.status == "issued"
    )
    return int(db.session.scalar(stmt) or 0)


def paid_total(request: ServiceRequest) -> int:
    """Succeeded payments minus succeeded refunds for a request, in minor units."""
    paid = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount), 0)).where(
            Payment.service_request_id == request.id, Payment.status == PAYMENT_SUCCEEDED
        )
    )
    refunded = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0))
        .join(Payment, Refund.payment_id == Payment.id)
        .where(Payment.service_request_id == request.id, Refund.status == PAYMENT_SUCCEEDED)
    )
    return int(paid or 0) - int(refunded or 0)


def balance_due(request: ServiceRequest) -> int:
    """Invoice total − succeeded payments + refunds; positive means the customer owes money."""
    if request.id is None:
        return 0
    return invoiced_total(request) - paid_total(request)


def next_invoice_number(year: int) -> str:
    """Take the next number of ``year`` (INV-2026-00042) without gaps or duplicates.

    The counter row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers),
    so concurrent issuers queue up instead of reusing a number. Call inside the transaction that
    issues the invoice, so a rollback gives the number back.
    """
    from ..models import InvoiceCounter

    counter = db.session.scalar(
        sa.select(InvoiceCounter).where(InvoiceCounter.year == year).with_for_update()
    )
    if counter is None:
        try:
            with db.session.begin_nested():
                db.session.add(InvoiceCounter(year=year, last_number=0))
        except sa.exc.IntegrityError:
            pass  # another transaction created it first
        counter = db.session.scalar(
            sa.select(InvoiceCounter).where(InvoiceCounter.year == year).with_for_update()
        )
    counter.last_number += 1
    db.session.flush()
    return f"INV-{year}-{counter.last_number:05d}"


def is_amount(value: object, *, allow_zero: bool = False) -> bool:
    """True for a whole number of minor units (not a bool), positive or, if allowed, zero."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return value >= 0 if allow_zero else value > 0


def refunded_total(payment: Payment, *, include_pending: bool = False) -> int:
    """What has been refunded on one payment (succeeded refunds; pending ones too if asked)."""
    statuses = [PAYMENT_SUCCEEDED] + (["pending"] if include_pending else [])
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0)).where(
                Refund.payment_id == payment.id, Refund.status.in_(statuses)
            )
        )
        or 0
    )


def refundable_amount(payment: Payment) -> int:
    """What may still be refunded: the amount paid minus refunds made or under way."""
    if payment.status != PAYMENT_SUCCEEDED:
        return 0
    return payment.amount - refunded_total(payment, include_pending=True)


def totals_by_request(request_ids) -> dict[int, tuple[int, int]]:
    """(invoiced_total, paid_total) for many requests at once, in three queries.

    The same rules as ``invoiced_total`` and ``paid_total``, grouped, so list pages do not run
    queries per row. Requests with nothing invoiced or paid are (0, 0).
    """
    ids = list(request_ids)
    totals = {rid: [0, 0] for rid in ids}
    if not ids:
        return {}
    signed = sa.case((Invoice.kind == "credit_note", -Invoice.total), else_=Invoice.total)
    invoiced = db.session.execute(
        sa.select(Invoice.service_request_id, sa.func.coalesce(sa.func.sum(signed), 0))
        .where(Invoice.service_request_id.in_(ids), Invoice.status == "issued")
        .group_by(Invoice.service_request_id)
    )
    for rid, amount in invoiced:
        totals[rid][0] = int(amount or 0)
    paid = db.session.execute(
        sa.select(Payment.service_request_id, sa.func.coalesce(sa.func.sum(Payment.amount), 0))
        .where(Payment.service_request_id.in_(ids), Payment.status == PAYMENT_SUCCEEDED)
        .group_by(Payment.service_request_id)
    )
    for rid, amount in paid:
        totals[rid][1] += int(amount or 0)
    refunded = db.session.execute(
        sa.select(Payment.service_request_id, sa.func.coalesce(sa.func.sum(Refund.amount), 0))
        .join(Payment, Refund.payment_id == Payment.id)
        .where(Payment.service_request_id.in_(ids), Refund.status == PAYMENT_SUCCEEDED)
        .group_by(Payment.service_request_id)
    )
    for rid, amount in refunded:
        totals[rid][1] -= int(amount or 0)
    return {rid: (inv, paid) for rid, (inv, paid) in totals.items()}


def balances_due() -> sa.Select:
    """(service_request_id, balance_due) of every request that owes money, in one statement.

    The rule of ``balance_due`` (issued invoices minus credit notes, minus succeeded payments,
    plus succeeded refunds) as SQL, for pages that list what is owed without a query per row.
    """
    signed = sa.case((Invoice.kind == "credit_note", -Invoice.total), else_=Invoice.total)
    invoiced = (
        sa.select(Invoice.service_request_id.label("rid"), sa.func.sum(signed).label("amount"))
        .where(Invoice.service_request_id.is_not(None), Invoice.status == "issued")
        .group_by(Invoice.service_request_id)
        .subquery()
    )
    paid = (
        sa.select(
            Payment.service_request_id.label("rid"), sa.func.sum(Payment.amount).label("amount")
        )
        .where(Payment.service_request_id.is_not(None), Payment.status == PAYMENT_SUCCEEDED)
        .group_by(Payment.service_request_id)
        .subquery()
    )
    refunded = (
        sa.select(
            Payment.service_request_id.label("rid"), sa.func.sum(Refund.amount).label("amount")
        )
        .join(Payment, Refund.payment_id == Payment.id)
        .where(Payment.service_request_id.is_not(None), Refund.status == PAYMENT_SUCCEEDED)
        .group_by(Payment.service_request_id)
        .subquery()
    )
    due = (
        invoiced.c.amount
        - sa.func.coalesce(paid.c.amount, 0)
        + sa.func.coalesce(refunded.c.amount, 0)
    )
    return (
        sa.select(invoiced.c.rid.label("service_request_id"), due.label("balance_due"))
        .outerjoin(paid, paid.c.rid == invoiced.c.rid)
        .outerjoin(refunded, refunded.c.rid == invoiced.c.rid)
        .where(due > 0)
    )


# The largest amount a form may hold: well inside a 32-bit INTEGER column.
MAX_AMOUNT = 100_000_000


def parse_amount(raw: object, currency: str = "usd") -> int | None:
    """A typed amount ('49.99', '49,99', '50') in minor units, or None if it is not a positive
    amount with at most the currency's decimals. Exact (no float rounding); refuses 'inf'/'nan'."""
    from decimal import Decimal, InvalidOperation

    from ..templating import ZERO_DECIMAL

    text = str(raw or "").strip().replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    decimals = 0 if currency.lower() in ZERO_DECIMAL else 2
    minor = value.scaleb(decimals)
    if minor != minor.to_integral_value() or not 0 < minor <= MAX_AMOUNT:
        return None
    return int(minor)
