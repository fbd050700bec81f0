"""What a repair or a counter sale still owes (invoiced less credited, less paid, plus
refunded), and what may still be refunded of a payment.

Every screen, the API, the completion rule and the reports read balances here, so they agree.
"""

from __future__ import annotations

import sqlalchemy as sa

from ...extensions import db
from ...models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
    ServiceRequest,
)

# An issued document's amount as it counts in a balance: credit notes take money off.
_SIGNED_TOTAL = sa.case(
    (Invoice.kind == InvoiceKind.CREDIT_NOTE, -Invoice.total), else_=Invoice.total
)


def invoiced_total(request: ServiceRequest) -> int:
    """Issued invoices minus credit notes for a request, in minor units."""
    stmt = sa.select(sa.func.coalesce(sa.func.sum(_SIGNED_TOTAL), 0)).where(
        Invoice.service_request_id == request.id, Invoice.status == InvoiceStatus.ISSUED
    )
    return int(db.session.scalar(stmt) or 0)


def _paid_less_refunded(paid_for: sa.ColumnElement[bool]) -> int:
    """Succeeded payments matching ``paid_for`` minus the succeeded refunds of those payments."""
    paid = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount), 0)).where(
            paid_for, Payment.status == PaymentStatus.SUCCEEDED
        )
    )
    refunded = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0))
        .join(Payment, Refund.payment_id == Payment.id)
        .where(paid_for, Refund.status == RefundStatus.SUCCEEDED)
    )
    return int(paid or 0) - int(refunded or 0)


def paid_total(request: ServiceRequest) -> int:
    """Succeeded payments minus succeeded refunds for a request, in minor units."""
    return _paid_less_refunded(Payment.service_request_id == request.id)


def balance_due(request: ServiceRequest) -> int:
    """Invoice total − succeeded payments + refunds; positive means the customer owes money."""
    if request.id is None:
        return 0
    return invoiced_total(request) - paid_total(request)


def invoice_balance(invoice: Invoice) -> int:
    """What is still owed on one invoice (a walk-in sale's): its total minus credit notes,
    minus succeeded payments made against it, plus what was refunded of those."""
    credited = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Invoice.total), 0)).where(
            Invoice.credit_for_id == invoice.id,
            Invoice.kind == InvoiceKind.CREDIT_NOTE,
            Invoice.status == InvoiceStatus.ISSUED,
        )
    )
    return (
        invoice.total - int(credited or 0) - _paid_less_refunded(Payment.invoice_id == invoice.id)
    )


def totals_of(request_id: sa.ColumnElement[int]) -> tuple[sa.ScalarSelect, sa.ColumnElement]:
    """(invoiced_total, paid_total) of the request ``request_id`` names, as two columns (the
    rules of ``invoiced_total`` and ``paid_total``): a list of requests reads its totals in
    its own statement, correlated to ``ServiceRequest.id``."""
    invoiced = sa.select(sa.func.coalesce(sa.func.sum(_SIGNED_TOTAL), 0)).where(
        Invoice.service_request_id == request_id, Invoice.status == InvoiceStatus.ISSUED
    )
    paid = sa.select(sa.func.coalesce(sa.func.sum(Payment.amount), 0)).where(
        Payment.service_request_id == request_id, Payment.status == PaymentStatus.SUCCEEDED
    )
    refunded = (
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0))
        .join(Payment, Refund.payment_id == Payment.id)
        .where(Payment.service_request_id == request_id, Refund.status == RefundStatus.SUCCEEDED)
    )
    return (
        invoiced.scalar_subquery(),
        paid.scalar_subquery() - refunded.scalar_subquery(),
    )


def totals_by_request(request_ids) -> dict[int, tuple[int, int]]:
    """(invoiced_total, paid_total) for many requests at once, in one statement.

    The same rules as ``invoiced_total`` and ``paid_total`` (``totals_of``), so list pages do
    not run queries per row. Requests with nothing invoiced or paid are (0, 0).
    """
    ids = list(request_ids)
    if not ids:
        return {}
    totals = {rid: (0, 0) for rid in ids}
    rows = db.session.execute(
        sa.select(ServiceRequest.id, *totals_of(ServiceRequest.id)).where(
            ServiceRequest.id.in_(ids)
        )
    )
    for rid, invoiced, paid in rows:
        totals[rid] = (int(invoiced or 0), int(paid or 0))
    return totals


def balances_due() -> sa.Select:
    """(service_request_id, balance_due) of every request that owes money, in one statement.

    The rule of ``balance_due`` (issued invoices minus credit notes, minus succeeded payments,
    plus succeeded refunds) as SQL, for pages that list what is owed without a query per row:
    every amount signed as it counts, one row each, added up per request that has an issued
    document. (Three sums joined on the request id, as this once was, led PostgreSQL to expect
    millions of rows and compile the query to machine code, a second on each dashboard view.)
    """
    documents = sa.select(
        Invoice.service_request_id.label("rid"),
        _SIGNED_TOTAL.label("amount"),
        sa.literal_column("1").label("documents"),
    ).where(Invoice.service_request_id.is_not(None), Invoice.status == InvoiceStatus.ISSUED)
    paid = sa.select(Payment.service_request_id, -Payment.amount, sa.literal_column("0")).where(
        Payment.service_request_id.is_not(None), Payment.status == PaymentStatus.SUCCEEDED
    )
    refunded = (
        sa.select(Payment.service_request_id, Refund.amount, sa.literal_column("0"))
        .join(Payment, Refund.payment_id == Payment.id)
        .where(Payment.service_request_id.is_not(None), Refund.status == RefundStatus.SUCCEEDED)
    )
    amounts = sa.union_all(documents, paid, refunded).subquery("amounts")
    due = sa.func.sum(amounts.c.amount)
    return (
        sa.select(amounts.c.rid.label("service_request_id"), due.label("balance_due"))
        .group_by(amounts.c.rid)
        .having(sa.func.sum(amounts.c.documents) > 0, due > 0)
    )


def refunded_total(payment: Payment, *, include_pending: bool = False) -> int:
    """What has been refunded on one payment (succeeded refunds; pending ones too if asked)."""
    statuses = [RefundStatus.SUCCEEDED] + ([RefundStatus.PENDING] if include_pending else [])
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
    if payment.status != PaymentStatus.SUCCEEDED:
        return 0
    return payment.amount - refunded_total(payment, include_pending=True)
