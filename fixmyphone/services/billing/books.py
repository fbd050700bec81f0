"""Reports from the books: what was invoiced (net, tax) less credit notes, the invoices still
unpaid with their age, and the refunds given. They read issued invoices and payments only, so
they add up to the invoices' PDFs and to the balances customers see."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa

from ...extensions import db
from ...formatting import local_time
from ...models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    Refund,
    RefundStatus,
    utcnow,
)
from ..periods import Period, bucket, within
from .balances import balances_due, invoice_balance

# Days since the invoice was issued: (label, first day, last day or None).
AGEING = (
    ("0-30 days", 0, 30),
    ("31-60 days", 31, 60),
    ("61-90 days", 61, 90),
    ("90+ days", 91, None),
)
DATE = "%Y-%m-%d"


def invoiced(period: Period, grouping: str = "day") -> list[dict]:
    """Per day/week/month: invoices issued and credit notes, with net sales, tax and total
    (credit notes subtract)."""
    when = bucket(Invoice.issued_at, grouping, period)
    sign = sa.case((Invoice.kind == InvoiceKind.CREDIT_NOTE, -1), else_=1)
    rows = db.session.execute(
        sa.select(
            when,
            sa.func.sum(sa.case((Invoice.kind == InvoiceKind.INVOICE, 1), else_=0)),
            sa.func.sum(sa.case((Invoice.kind == InvoiceKind.CREDIT_NOTE, 1), else_=0)),
            sa.func.sum(sign * Invoice.subtotal),
            sa.func.sum(sign * Invoice.tax),
            sa.func.sum(sign * Invoice.total),
        )
        .where(Invoice.status == InvoiceStatus.ISSUED, within(Invoice.issued_at, period))
        .group_by(when)
        .order_by(when)
    ).all()
    return [
        {
            "period": str(label),
            "invoices": int(invoices or 0),
            "credit_notes": int(notes or 0),
            "net": int(net or 0),
            "tax": int(tax or 0),
            "total": int(total or 0),
        }
        for label, invoices, notes, net, tax, total in rows
    ]


def _ageing_label(days: int) -> str:
    for label, first, last in AGEING:
        if days >= first and (last is None or days <= last):
            return label
    return AGEING[0][0]


def _credited_by_invoice(ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = db.session.execute(
        sa.select(Invoice.credit_for_id, sa.func.sum(Invoice.total))
        .where(
            Invoice.credit_for_id.in_(ids),
            Invoice.kind == InvoiceKind.CREDIT_NOTE,
            Invoice.status == InvoiceStatus.ISSUED,
        )
        .group_by(Invoice.credit_for_id)
    ).all()
    return {invoice_id: int(amount or 0) for invoice_id, amount in rows}


# Each unpaid invoice's row names its repair and customer: read with it, not one by one.
_NAMED = (sa.orm.joinedload(Invoice.service_request), sa.orm.joinedload(Invoice.customer))


def unpaid_invoices(as_of: Optional[datetime] = None) -> list[dict]:
    """Every invoice with money still owed on it, oldest first, with its age and bucket.

    What a repair owes (``balances.balance_due``) is owed on its newest invoices first: a
    payment settles the oldest invoice before a later one. A walk-in sale's invoice owes its
    own balance.
    """
    as_of = as_of or utcnow()
    owed = dict(db.session.execute(balances_due()).all())
    repair_invoices = (
        db.session.scalars(
            sa.select(Invoice)
            .where(
                Invoice.service_request_id.in_(list(owed)),
                Invoice.kind == InvoiceKind.INVOICE,
                Invoice.status == InvoiceStatus.ISSUED,
            )
            .options(*_NAMED)
            .order_by(Invoice.issued_at.desc(), Invoice.id.desc())
        ).all()
        if owed
        else []
    )
    sales = db.session.scalars(
        sa.select(Invoice)
        .where(
            Invoice.service_request_id.is_(None),
            Invoice.kind == InvoiceKind.INVOICE,
            Invoice.status == InvoiceStatus.ISSUED,
        )
        .options(*_NAMED)
    ).all()
    credited = _credited_by_invoice([i.id for i in [*repair_invoices, *sales]])
    out: list[tuple[Invoice, int]] = []
    left = {rid: int(amount) for rid, amount in owed.items()}
    for invoice in repair_invoices:
        remaining = left.get(invoice.service_request_id, 0)
        share = min(remaining, invoice.total - credited.get(invoice.id, 0))
        if share > 0:
            out.append((invoice, share))
            left[invoice.service_request_id] = remaining - share
    for invoice in sales:
        due = invoice_balance(invoice)
        if due > 0:
            out.append((invoice, due))
    out.sort(key=lambda pair: (pair[0].issued_at, pair[0].id))
    rows = []
    for invoice, outstanding in out:
        days = max(0, (as_of - invoice.issued_at).days)
        request = invoice.service_request
        rows.append(
            {
                "number": invoice.number,
                "bill_to": invoice.bill_to_name
                or (invoice.customer.full_name if invoice.customer else "Walk-in customer"),
                "repair": request.reference if request is not None else "Counter sale",
                "issued": local_time(invoice.issued_at, DATE),
                "age_days": days,
                "ageing": _ageing_label(days),
                "total": invoice.total,
                "outstanding": outstanding,
                "currency": invoice.currency,
            }
        )
    return rows


def ageing(rows: list[dict]) -> list[dict]:
    """The unpaid invoices summed per age bucket (every bucket, even when empty)."""
    out = [{"ageing": label, "invoices": 0, "outstanding": 0} for label, _, _ in AGEING]
    by_label = {row["ageing"]: row for row in out}
    for row in rows:
        total = by_label[row["ageing"]]
        total["invoices"] += 1
        total["outstanding"] += row["outstanding"]
    return out


def refunds(period: Period) -> list[dict]:
    """Refunds given in the period, newest first: when, for what, how, how much, why."""
    rows = db.session.execute(
        sa.select(Refund, Payment)
        .join(Payment, Refund.payment_id == Payment.id)
        .where(Refund.status == RefundStatus.SUCCEEDED, within(Refund.created_at, period))
        .order_by(Refund.created_at.desc(), Refund.id.desc())
    ).all()
    out = []
    for refund, payment in rows:
        request = payment.service_request
        what = request.reference if request is not None else "Counter sale"
        out.append(
            {
                "date": local_time(refund.created_at, DATE),
                "repair": what,
                "method": payment.method,
                "amount": refund.amount,
                "reason": refund.reason or "",
                "currency": refund.currency,
            }
        )
    return out
