"""Invoices and credit notes: built from the approved quote, parts used and labour, with tax.

An issued invoice never changes (a flush that tries is refused); corrections are credit notes,
which carry their own number from the same gap-free yearly sequence.
"""

from __future__ import annotations

from typing import Any, Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db
from ..models import (
    QUOTE_APPROVED,
    Invoice,
    InvoiceLine,
    LabourEntry,
    Payment,
    RequestPart,
    ServiceRequest,
    User,
    utcnow,
)
from ..templating import format_money
from . import audit, billing, notifications
from .errors import Conflict, Forbidden, ValidationFailed

ISSUED = "issued"


class InvoiceImmutable(Conflict):
    """An issued invoice (or its lines) was about to change."""


def tax_for(net: int, rate_bp: int) -> int:
    """Tax on a line in minor units, rounded half up: 1234 at 2000 bp → 247."""
    sign = -1 if net < 0 else 1
    return sign * ((abs(net) * rate_bp + 5000) // 10000)


def _line(description: str, quantity: int, unit: int, rate_bp: int, **extra: Any) -> InvoiceLine:
    net = quantity * unit
    return InvoiceLine(
        description=description[:300],
        quantity=quantity,
        unit_amount=unit,
        tax_rate_bp=rate_bp,
        net_amount=net,
        tax_amount=tax_for(net, rate_bp),
        **extra,
    )


def is_free_of_charge(request: ServiceRequest) -> bool:
    """Warranty claims (and reworks flagged no-charge) cost nothing for labour and parts."""
    return request.is_warranty_claim or bool(getattr(request, "no_charge", False))


def draft_lines(request: ServiceRequest) -> list[InvoiceLine]:
    """The lines an invoice for ``request`` would have now (nothing is saved)."""
    rate = int(current_app.config.get("TAX_RATE_BP") or 0)
    free = is_free_of_charge(request)
    lines: list[InvoiceLine] = []
    if request.quote_status == QUOTE_APPROVED and request.quote_amount:
        details = (request.quote_details or "").strip()
        lines.append(
            _line(
                f"Repair as quoted: {details}" if details else "Repair as quoted",
                1,
                request.quote_amount,
                rate,
            )
        )
    parts = db.session.scalars(
        sa.select(RequestPart)
        .where(RequestPart.service_request_id == request.id, RequestPart.status == "consumed")
        .order_by(RequestPart.id)
    ).all()
    for used in parts:
        name = f"{used.part.name} ({used.part.sku})" + (" — warranty" if free else "")
        lines.append(
            _line(name, used.quantity, 0 if free else used.unit_price, rate, part_id=used.part_id)
        )
    labour = db.session.scalars(
        sa.select(LabourEntry)
        .where(LabourEntry.service_request_id == request.id)
        .order_by(LabourEntry.id)
    ).all()
    for entry in labour:
        minutes = f" ({entry.minutes} min)" if entry.minutes else ""
        name = f"Labour: {entry.description}{minutes}" + (" — warranty" if free else "")
        lines.append(_line(name, 1, 0 if free else entry.amount, rate))
    return lines


def record_labour(
    request: ServiceRequest,
    *,
    description: str,
    amount: int,
    actor: User,
    minutes: int = 0,
) -> LabourEntry:
    """Log bench work on a repair; it is charged on the next invoice (free on warranty)."""
    if actor is None or not actor.is_staff:
        raise Forbidden("Only staff log labour.")
    errors: dict[str, list[str]] = {}
    if not (description or "").strip():
        errors["description"] = ["Say what was done."]
    elif len(description.strip()) > 300:
        errors["description"] = ["At most 300 characters."]
    if not billing.is_amount(amount, allow_zero=True):
        errors["amount"] = ["Must be zero or a positive amount in minor units."]
    if not billing.is_amount(minutes, allow_zero=True):
        errors["minutes"] = ["Must be zero or more."]
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)
    entry = LabourEntry(
        service_request=request,
        technician=actor if actor.role == "technician" else request.technician,
        description=description.strip(),
        minutes=minutes,
        amount=amount,
    )
    db.session.add(entry)
    db.session.flush()
    audit.record(actor, "labour_logged", request, after={"amount": amount, "minutes": minutes})
    return entry


def _number_year() -> int:
    return utcnow().astimezone(ZoneInfo(current_app.config["SHOP_TIMEZONE"])).year


def credited_total(invoice: Invoice) -> int:
    """What credit notes have already taken off ``invoice``."""
    return int(
        db.session.scalar(
            sa.select(sa.func.coalesce(sa.func.sum(Invoice.total), 0)).where(
                Invoice.credit_for_id == invoice.id,
                Invoice.kind == "credit_note",
                Invoice.status == ISSUED,
            )
        )
        or 0
    )


def _open_invoice(request: ServiceRequest) -> Optional[Invoice]:
    """An issued invoice of the request that credit notes have not fully cancelled."""
    invoices = db.session.scalars(
        sa.select(Invoice).where(
            Invoice.service_request_id == request.id,
            Invoice.kind == "invoice",
            Invoice.status == ISSUED,
        )
    ).all()
    for invoice in invoices:
        if invoice.total == 0 or credited_total(invoice) < invoice.total:
            return invoice
    return None


def issue_invoice(request: ServiceRequest, actor: User) -> Invoice:
    """Issue the repair's invoice with the next number of the year; it is final from now on."""
    if actor is None or not actor.is_staff:
        raise Forbidden("Only staff issue invoices.")
    existing = _open_invoice(request)
    if existing is not None:
        raise Conflict(
            f"{request.reference} already has invoice {existing.number}; "
            "correct it with a credit note first."
        )
    lines = draft_lines(request)
    if not lines:
        raise Conflict(
            f"Nothing to invoice on {request.reference}: no approved quote, parts or labour."
        )
    invoice = Invoice(
        kind="invoice",
        service_request=request,
        customer_id=request.customer_id,
        currency=current_app.config["SHOP_CURRENCY"].lower(),
        status="draft",
        lines=lines,
    )
    _total_up(invoice)
    db.session.add(invoice)
    _issue(invoice)
    # Money taken before the invoice (a deposit) counts against it.
    for payment in db.session.scalars(
        sa.select(Payment).where(
            Payment.service_request_id == request.id, Payment.invoice_id.is_(None)
        )
    ):
        payment.invoice_id = invoice.id
    audit.record(
        actor, "invoice_issued", invoice, after={"number": invoice.number, "total": invoice.total}
    )
    _tell_customer(invoice, request)
    return invoice


def issue_credit_note(invoice: Invoice, *, amount: int, reason: str, actor: User) -> Invoice:
    """Credit part or all of an issued invoice (tax split in the invoice's proportion)."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin issues credit notes.")
    if invoice.kind != "invoice" or invoice.status != ISSUED:
        raise Conflict("Only an issued invoice can be credited.")
    if not billing.is_amount(amount):
        raise ValidationFailed(
            "The credit must be a positive amount.", fields={"amount": ["Must be positive."]}
        )
    if not (reason or "").strip():
        raise ValidationFailed("Say why the invoice is credited.", fields={"reason": ["Required."]})
    # Serialise credit notes on one invoice so two cannot over-credit it together.
    db.session.scalar(sa.select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
    remaining = invoice.total - credited_total(invoice)
    if amount > remaining:
        message = f"At most {format_money(remaining, invoice.currency)} can still be credited."
        raise ValidationFailed(message, fields={"amount": [message]})
    net = (
        amount
        if invoice.total == 0
        else (amount * invoice.subtotal + invoice.total // 2) // (invoice.total)
    )
    rates = {line.tax_rate_bp for line in invoice.lines}
    line = InvoiceLine(
        description=f"Credit for {invoice.number}: {reason.strip()}"[:300],
        quantity=1,
        unit_amount=net,
        tax_rate_bp=rates.pop() if len(rates) == 1 else 0,
        net_amount=net,
        tax_amount=amount - net,
    )
    note = Invoice(
        kind="credit_note",
        credit_for_id=invoice.id,
        service_request_id=invoice.service_request_id,
        customer_id=invoice.customer_id,
        currency=invoice.currency,
        status="draft",
        lines=[line],
    )
    _total_up(note)
    db.session.add(note)
    _issue(note)
    audit.record(
        actor,
        "credit_note_issued",
        note,
        after={
            "number": note.number,
            "credit_for": invoice.number,
            "amount": amount,
            "reason": reason.strip(),
        },
    )
    return note


def _total_up(invoice: Invoice) -> None:
    invoice.subtotal = sum(line.net_amount for line in invoice.lines)
    invoice.tax = sum(line.tax_amount for line in invoice.lines)
    invoice.total = invoice.subtotal + invoice.tax


def _issue(invoice: Invoice) -> None:
    invoice.number = billing.next_invoice_number(_number_year())
    invoice.status = ISSUED
    invoice.issued_at = utcnow()
    db.session.flush()


def _tell_customer(invoice: Invoice, request: ServiceRequest) -> None:
    total = format_money(invoice.total, invoice.currency)
    notifications.notify(
        request.customer,
        "invoice_issued",
        f"{request.reference}: invoice {invoice.number} ({total})",
        (
            f"Hello {request.customer.first_name},\n\nYour invoice {invoice.number} for repair "
            f"{request.reference} is attached. Total: {total}.\n\nPay online or at pickup: "
            f"{notifications.tracking_url(request)}\n"
        ),
        dedup_key=f"invoice_issued:{invoice.id}",
        service_request=request,
        context={"attachments": [{"kind": "invoice", "invoice_id": invoice.id}]},
    )


# ---------------------------------------------------------------- immutability guard


def _was_issued(session: Session, invoice: Invoice) -> bool:
    """The status as stored in the database, before this flush's changes."""
    state = sa.inspect(invoice)
    if not state.persistent and not state.deleted:
        return False
    stored = session.connection().scalar(
        sa.select(Invoice.__table__.c.status).where(Invoice.__table__.c.id == invoice.id)
    )
    return stored == ISSUED


@event.listens_for(Session, "before_flush")
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
