"""Issuing invoices and credit notes: one gap-free yearly number sequence, and the rule that
an issued document never changes (a flush that tries is refused; corrections are credit notes).

The guard is a session hook that ``create_app`` installs (``install_issued_guard``).
"""

from __future__ import annotations

from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from ...domain_errors import Conflict
from ...extensions import db
from ...models import (
    Invoice,
    InvoiceCounter,
    InvoiceKind,
    InvoiceLine,
    InvoiceStatus,
    ServiceRequest,
    utcnow,
)


class InvoiceImmutable(Conflict):
    """An issued invoice (or its lines) was about to change."""


def next_invoice_number(year: int) -> str:
    """Take the next number of ``year`` (INV-2026-00042) without gaps or duplicates.

    The counter row is locked (SELECT ... FOR UPDATE on PostgreSQL; SQLite serialises writers),
    so concurrent issuers queue up instead of reusing a number. Call inside the transaction that
    issues the invoice, so a rollback gives the number back.
    """
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


def _number_year() -> int:
    return utcnow().astimezone(ZoneInfo(current_app.config["SHOP_TIMEZONE"])).year


def issue(invoice: Invoice) -> None:
    """Total up a draft invoice or credit note from its lines, number it and make it final."""
    invoice.subtotal = sum(line.net_amount for line in invoice.lines)
    invoice.tax = sum(line.tax_amount for line in invoice.lines)
    invoice.total = invoice.subtotal + invoice.tax
    db.session.add(invoice)
    invoice.number = next_invoice_number(_number_year())
    invoice.status = InvoiceStatus.ISSUED
    invoice.issued_at = utcnow()
    db.session.flush()


def issued_invoices(request: ServiceRequest) -> list[Invoice]:
    """The repair's issued invoices (not credit notes), oldest first."""
    if request.id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(Invoice)
            .where(
                Invoice.service_request_id == request.id,
                Invoice.kind == InvoiceKind.INVOICE,
                Invoice.status == InvoiceStatus.ISSUED,
            )
            .order_by(Invoice.id)
        )
    )


def credited(invoice: Invoice) -> tuple[int, int]:
    """(net, tax) that credit notes already took off ``invoice``."""
    row = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Invoice.subtotal), 0),
            sa.func.coalesce(sa.func.sum(Invoice.tax), 0),
        ).where(
            Invoice.credit_for_id == invoice.id,
            Invoice.kind == InvoiceKind.CREDIT_NOTE,
            Invoice.status == InvoiceStatus.ISSUED,
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def credited_total(invoice: Invoice) -> int:
    """What credit notes have already taken off ``invoice``."""
    net, tax = credited(invoice)
    return net + tax


def is_document_of(invoice: Invoice, request: ServiceRequest) -> bool:
    """True for an issued invoice or credit note of ``request`` (what its customer may read)."""
    return invoice.status == InvoiceStatus.ISSUED and invoice.service_request_id == request.id


# ---------------------------------------------------------------- immutability guard


def _was_issued(session: Session, invoice: Invoice) -> bool:
    """The status as stored in the database, before this flush's changes."""
    state = sa.inspect(invoice)
    if not state.persistent and not state.deleted:
        return False
    stored = session.connection().scalar(
        sa.select(Invoice.__table__.c.status).where(Invoice.__table__.c.id == invoice.id)
    )
    return stored == InvoiceStatus.ISSUED


def install_issued_guard() -> None:
    """Refuse, on every flush, any change to an issued invoice or its lines."""
    if not event.contains(Session, "before_flush", _refuse_changes_to_issued):
        event.listen(Session, "before_flush", _refuse_changes_to_issued)


def _refuse_changes_to_issued(session: Session, _context: Any, _instances: Any) -> None:
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, Invoice) and _was_issued(session, obj):
            if obj in session.deleted or session.is_modified(obj, include_collections=False):
                raise InvoiceImmutable(
                    f"Invoice {obj.number} is issued and cannot change; issue a credit note."
                )
        if isinstance(obj, InvoiceLine):
            parent = obj.invoice or session.get(Invoice, obj.invoice_id)
            if parent is not None and _was_issued(session, parent):
                if obj in session.deleted or session.is_modified(obj):
                    raise InvoiceImmutable(
                        f"Invoice {parent.number} is issued; its lines cannot change."
                    )
    for obj in session.new:
        if isinstance(obj, InvoiceLine):
            parent = obj.invoice
            if (
                parent is not None
                and sa.inspect(parent).persistent
                and _was_issued(session, parent)
            ):
                raise InvoiceImmutable(f"Invoice {parent.number} is issued; lines cannot be added.")
