"""Invoices and credit notes: issued from a repair's charges (or a counter sale), with tax.

An issued invoice never changes (a flush that tries is refused); corrections are credit notes,
which carry their own number from the same gap-free yearly sequence. A repair may be invoiced
more than once (a deposit, an interim invoice, then the final one): each new invoice bills the
current charges and deducts what earlier invoices already billed, so together they bill the
charges exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from sqlalchemy import event
from sqlalchemy.orm import Session

from ..extensions import db
from ..formatting import format_money
from ..models import (
    Invoice,
    InvoiceLine,
    LabourEntry,
    Payment,
    Refund,
    ServiceRequest,
    User,
    utcnow,
)
from . import audit, billing, notifications, totals
from .errors import Conflict, Forbidden, ValidationFailed

ISSUED = "issued"


class InvoiceImmutable(Conflict):
    """An issued invoice (or its lines) was about to change."""


def tax_for(net: int, rate_bp: int) -> int:
    """Tax on a line in minor units, rounded half up: 1234 at 2000 bp → 247 (see totals)."""
    return totals.tax_for(net, rate_bp)


def is_free_of_charge(request: ServiceRequest) -> bool:
    """Warranty reworks and repairs an admin marked no-charge cost nothing."""
    return bool(request.no_charge)


def _invoice_line(line: totals.LineAmount, free: bool) -> InvoiceLine:
    description = line.description + (" (no charge)" if free else "")
    unit = 0 if free else line.unit_amount
    quantity = line.quantity
    if line.minutes:
        # Labour by the hour prints as one line of the worked time at its amount.
        description = f"{line.description} ({line.hours})" + (" (no charge)" if free else "")
        unit, quantity = line.net, 1
    elif line.kind == "discount":
        unit = -unit
    return InvoiceLine(
        kind=line.kind,
        part_id=line.part_id,
        description=description[:300],
        quantity=quantity,
        unit_amount=unit,
        tax_rate_bp=line.tax_rate_bp,
        net_amount=line.net,
        tax_amount=line.tax,
    )


def _earlier_invoices(request: ServiceRequest) -> list[Invoice]:
    if request.id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(Invoice)
            .where(
                Invoice.service_request_id == request.id,
                Invoice.kind == "invoice",
                Invoice.status == ISSUED,
            )
            .order_by(Invoice.id)
        )
    )


def _credited(invoice: Invoice) -> tuple[int, int]:
    """(net, tax) that credit notes already took off ``invoice``."""
    row = db.session.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(Invoice.subtotal), 0),
            sa.func.coalesce(sa.func.sum(Invoice.tax), 0),
        ).where(
            Invoice.credit_for_id == invoice.id,
            Invoice.kind == "credit_note",
            Invoice.status == ISSUED,
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


def draft_lines(request: ServiceRequest) -> list[InvoiceLine]:
    """The lines the repair's next invoice would have now (nothing is saved): the current
    charges, less what earlier invoices (a deposit, an interim invoice) already billed."""
    worked = billing.charges_totals(request)
    lines = [_invoice_line(line, worked.free) for line in worked.lines]
    for earlier in _earlier_invoices(request):
        credited_net, credited_tax = _credited(earlier)
        net, tax = earlier.subtotal - credited_net, earlier.tax - credited_tax
        if net == 0 and tax == 0:
            continue
        rates = {line.tax_rate_bp for line in earlier.lines}
        lines.append(
            InvoiceLine(
                kind="deduction",
                description=f"Less invoice {earlier.number}",
                quantity=1,
                unit_amount=-net,
                tax_rate_bp=rates.pop() if len(rates) == 1 else 0,
                net_amount=-net,
                tax_amount=-tax,
            )
        )
    return lines


def record_labour(
    request: ServiceRequest,
    *,
    description: str,
    actor: User,
    minutes: int = 0,
    amount: Optional[int] = None,
) -> LabourEntry:
    """Log bench work on a repair; it is charged on the next invoice (free on warranty).

    Without an ``amount`` the time is charged at the shop's hourly ``LABOUR_RATE``.
    """
    from .repairs import can_move

    if actor is None or not actor.is_staff or not can_move(actor, request):
        raise Forbidden("Only the assigned technician or an admin records labour.")
    errors: dict[str, list[str]] = {}
    if not (description or "").strip():
        errors["description"] = ["Say what was done."]
    elif len(description.strip()) > 300:
        errors["description"] = ["At most 300 characters."]
    if not billing.is_amount(minutes, allow_zero=True) or minutes > 100 * 60:
        errors["minutes"] = ["Give the time worked (at most 100 hours)."]
    elif amount is None:
        if minutes <= 0:
            errors["minutes"] = ["Give the time worked, or an amount."]
        rate = int(current_app.config.get("LABOUR_RATE") or 0)
        amount = totals.line_net("labour", 1, rate, minutes) if minutes > 0 else 0
    if amount is not None and (
        not billing.is_amount(amount, allow_zero=True) or amount > billing.MAX_AMOUNT
    ):
        errors["amount"] = ["Must be zero or a positive amount."]
    if request.status in ("completed", "canceled", "closed"):
        raise Conflict(f"{request.reference} is {request.status}: no more labour on it.")
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
    audit.record(
        actor,
        "labour_logged",
        request,
        after={"amount": format_money(amount), "minutes": minutes},
    )
    return entry


def _number_year() -> int:
    return utcnow().astimezone(ZoneInfo(current_app.config["SHOP_TIMEZONE"])).year


def credited_total(invoice: Invoice) -> int:
    """What credit notes have already taken off ``invoice``."""
    net, tax = _credited(invoice)
    return net + tax


def issue_invoice(request: ServiceRequest, actor: User) -> Invoice:
    """Issue the repair's invoice for its charges not invoiced yet (an interim invoice when the
    work is not finished), with the next number of the year; it is final from now on."""
    if actor is None or not actor.is_staff:
        raise Forbidden("Only staff issue invoices.")
    if request.status in ("canceled", "closed"):
        raise Conflict(f"{request.reference} is {request.status}.")
    return _issue_for_charges(request, actor)


def _issue_for_charges(request: ServiceRequest, actor: Optional[User]) -> Invoice:
    # One invoicer at a time per repair, so two cannot bill the same charges.
    db.session.scalar(
        sa.select(ServiceRequest.id).where(ServiceRequest.id == request.id).with_for_update()
    )
    if not billing.current_charges(request):
        raise Conflict(
            f"Nothing to invoice on {request.reference}: no approved estimate, parts or labour."
        )
    lines = draft_lines(request)
    subtotal = sum(line.net_amount for line in lines)
    total = subtotal + sum(line.tax_amount for line in lines)
    earlier = [line for line in lines if line.kind == "deduction"]
    if earlier and total == 0 and subtotal == 0:
        raise Conflict(
            f"{request.reference} already has invoice "
            f"{earlier[-1].description.removeprefix('Less invoice ')} for every charge."
        )
    if total < 0:
        raise Conflict(
            f"The charges on {request.reference} are now {format_money(-total)} less than "
            "invoiced: an admin credits the difference with a credit note."
        )
    invoice = _new_invoice(
        lines,
        service_request=request,
        customer_id=request.customer_id,
        bill_to_name=request.customer.full_name,
    )
    # Money taken before the invoice (a deposit) counts against it.
    for payment in db.session.scalars(
        sa.select(Payment).where(
            Payment.service_request_id == request.id, Payment.invoice_id.is_(None)
        )
    ):
        payment.invoice_id = invoice.id
    audit.record(
        actor,
        "invoice_issued",
        invoice,
        after={"number": invoice.number, "total": format_money(invoice.total, invoice.currency)},
    )
    _tell_customer(invoice, request)
    return invoice


def on_repair_moved(
    request: ServiceRequest, *, target: str, actor: Optional[User], **_: object
) -> None:
    """The work is done: what it cost is invoiced now, whoever moved it (any face)."""
    if target in ("payment_pending", "ready_for_pickup", "dispatched"):
        invoice_when_ready(request, actor)


def invoice_when_ready(request: ServiceRequest, actor: Optional[User]) -> Optional[Invoice]:
    """The repair is done (the workflow calls this): invoice whatever is not invoiced yet.

    Nothing happens on a no-charge repair, a repair without charges, or one whose invoices
    already bill every charge; the completion rule then says what is missing.
    """
    if request.no_charge or not billing.current_charges(request):
        return None
    lines = draft_lines(request)
    if sum(line.net_amount + line.tax_amount for line in lines) <= 0:
        return None
    return _issue_for_charges(request, actor)


def issue_deposit_invoice(request: ServiceRequest, *, amount: int, actor: User) -> Invoice:
    """Invoice a deposit (an amount including tax) before the work is done; the repair's
    later invoice deducts it."""
    if actor is None or not actor.is_staff:
        raise Forbidden("Only staff issue invoices.")
    if not billing.is_amount(amount) or amount > billing.MAX_AMOUNT:
        raise ValidationFailed(
            "The deposit must be a positive amount.", fields={"amount": ["Must be positive."]}
        )
    if request.status in ("payment_pending", "ready_for_pickup", "dispatched") or (
        request.status in ("completed", "canceled", "closed")
    ):
        raise Conflict(f"A deposit is taken before the work on {request.reference} is done.")
    rate = totals.tax_rate()
    net = totals.net_of_gross(amount, rate)
    line = InvoiceLine(
        kind="deposit",
        description=f"Deposit on repair {request.reference}",
        quantity=1,
        unit_amount=net,
        tax_rate_bp=rate,
        net_amount=net,
        tax_amount=amount - net,
    )
    invoice = _new_invoice(
        [line],
        service_request=request,
        customer_id=request.customer_id,
        bill_to_name=request.customer.full_name,
    )
    audit.record(
        actor,
        "deposit_invoice_issued",
        invoice,
        after={"number": invoice.number, "total": format_money(invoice.total, invoice.currency)},
    )
    _tell_customer(invoice, request)
    return invoice


def issue_sale_invoice(
    lines: Iterable[totals.ChargeLine],
    *,
    actor: User,
    customer: Optional[User] = None,
    bill_to_name: Optional[str] = None,
) -> Invoice:
    """A counter sale without a repair (accessories): its invoice, numbered like every other.

    Stock is not touched here: the caller takes the parts out of stock with services/inventory.
    """
    if actor is None or not actor.is_staff:
        raise Forbidden("Only staff sell at the counter.")
    worked = totals.compute(list(lines))
    if not worked.lines:
        raise ValidationFailed("Add something to sell.", fields={"lines": ["Required."]})
    if worked.total <= 0:
        raise ValidationFailed("A sale must come to more than zero.", fields={"lines": ["> 0"]})
    name = (bill_to_name or "").strip() or (customer.full_name if customer else "") or None
    if name and len(name) > 120:
        raise ValidationFailed("The name is too long.", fields={"bill_to_name": ["At most 120."]})
    invoice = _new_invoice(
        [_invoice_line(line, False) for line in worked.lines],
        service_request=None,
        customer_id=customer.id if customer else None,
        bill_to_name=name,
    )
    audit.record(
        actor,
        "sale_invoice_issued",
        invoice,
        after={"number": invoice.number, "total": format_money(invoice.total, invoice.currency)},
    )
    return invoice


def _new_invoice(
    lines: list[InvoiceLine],
    *,
    service_request: Optional[ServiceRequest],
    customer_id: Optional[int],
    bill_to_name: Optional[str],
) -> Invoice:
    invoice = Invoice(
        kind="invoice",
        service_request=service_request,
        customer_id=customer_id,
        bill_to_name=(bill_to_name or None) and bill_to_name[:120],
        currency=totals.currency(),
        status="draft",
        lines=lines,
    )
    _total_up(invoice)
    db.session.add(invoice)
    _issue(invoice)
    return invoice


def issue_credit_note(
    invoice: Invoice, *, amount: int, reason: str, actor: Optional[User], system: bool = False
) -> Invoice:
    """Credit part or all of an issued invoice (tax split in the invoice's proportion).

    An admin decides a credit note; ``system`` is for the refund path, where the admin's
    decision was the refund itself (it may be confirmed later by Stripe's webhook).
    """
    if not system and (actor is None or not actor.is_admin):
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
        kind="credit",
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
        bill_to_name=invoice.bill_to_name,
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
            "amount": format_money(amount, invoice.currency),
            "reason": reason.strip(),
        },
    )
    return note


def credit_for_refund(refund: Refund) -> list[Invoice]:
    """A refund that gives back invoiced money (not an overpayment) is credited on the
    invoices it paid, newest first, so the books and the balance stay right."""
    payment = refund.payment
    if payment.service_request_id is not None:
        request = payment.service_request
        # The refund row already counts in paid_total; before it, this much was overpaid.
        overpaid = max(0, -(billing.balance_due(request) - refund.amount))
        targets = _earlier_invoices(request)
    else:
        invoice = payment.invoice
        overpaid = max(0, -(billing.invoice_balance(invoice) - refund.amount))
        targets = [invoice] if invoice is not None else []
    to_credit = refund.amount - overpaid
    notes: list[Invoice] = []
    actor = db.session.get(User, refund.actor_id) if refund.actor_id else None
    for invoice in reversed(targets):
        if to_credit <= 0:
            break
        open_amount = invoice.total - credited_total(invoice)
        amount = min(open_amount, to_credit)
        if amount <= 0:
            continue
        reason = f"Refund of {format_money(refund.amount, refund.currency)}"
        if refund.reason:
            reason += f": {refund.reason}"
        notes.append(
            issue_credit_note(invoice, amount=amount, reason=reason, actor=actor, system=True)
        )
        to_credit -= amount
    return notes


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
    notifications.notify(
        request.customer,
        "invoice_issued",
        dedup_key=f"invoice_issued:{invoice.id}",
        service_request=request,
        context={"attachments": [{"kind": "invoice", "invoice_id": invoice.id}]},
        values={"invoice": invoice},
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
