"""Invoices: issued from a repair's charges (or a counter sale), with tax.

A repair may be invoiced more than once (a deposit, an interim invoice, then the final one):
each new invoice bills the current charges and deducts what earlier invoices already billed,
so together they bill the charges exactly once. Numbering and the rule that an issued invoice
never changes live in ``issuing``; corrections are credit notes (``credit_notes``).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Optional

import sqlalchemy as sa

from ...domain_errors import Conflict, Forbidden, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...models import (
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceLineKind,
    InvoiceStatus,
    LineKind,
    Payment,
    RepairStatus,
    ServiceRequest,
    User,
)
from .. import audit, notifications
from . import charges, totals
from .amounts import MAX_AMOUNT, is_amount
from .issuing import credited, issue, issued_invoices
from .ledger import RepairMoney


def _invoice_line(line: totals.LineAmount, free: bool) -> InvoiceLine:
    description = line.description + (" (no charge)" if free else "")
    unit = 0 if free else line.unit_amount
    quantity = line.quantity
    if line.minutes:
        # Labour by the hour prints as one line of the worked time at its amount.
        description = f"{line.description} ({line.hours})" + (" (no charge)" if free else "")
        unit, quantity = line.net, 1
    elif line.kind == LineKind.DISCOUNT:
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


def draft_lines(request: ServiceRequest, money: Optional[RepairMoney] = None) -> list[InvoiceLine]:
    """The lines the repair's next invoice would have now (nothing is saved): the current
    charges, less what earlier invoices (a deposit, an interim invoice) already billed.
    ``money``: the repair's money when already read (``ledger``)."""
    worked = charges.charges_totals(request, money)
    lines = [_invoice_line(line, worked.free) for line in worked.lines]
    earlier_invoices = issued_invoices(request) if money is None else money.issued_invoices()
    for earlier in earlier_invoices:
        credited_net, credited_tax = credited(earlier) if money is None else money.credited(earlier)
        net, tax = earlier.subtotal - credited_net, earlier.tax - credited_tax
        if net == 0 and tax == 0:
            continue
        rates = {line.tax_rate_bp for line in earlier.lines}
        lines.append(
            InvoiceLine(
                kind=InvoiceLineKind.DEDUCTION,
                description=f"Less invoice {earlier.number}",
                quantity=1,
                unit_amount=-net,
                tax_rate_bp=rates.pop() if len(rates) == 1 else 0,
                net_amount=-net,
                tax_amount=-tax,
            )
        )
    return lines


def issue_invoice(request: ServiceRequest, actor: User) -> Invoice:
    """Issue the repair's invoice for its charges not invoiced yet (an interim invoice when the
    work is not finished), with the next number of the year; it is final from now on."""
    if actor is None or not actor.is_staff:
        raise Forbidden("Only staff issue invoices.")
    if request.status in (RepairStatus.CANCELED, RepairStatus.CLOSED):
        raise Conflict(f"{request.reference} is {request.status}.")
    return _issue_for_charges(request, actor)


def _issue_for_charges(request: ServiceRequest, actor: Optional[User]) -> Invoice:
    # One invoicer at a time per repair, so two cannot bill the same charges.
    db.session.scalar(
        sa.select(ServiceRequest.id).where(ServiceRequest.id == request.id).with_for_update()
    )
    if not charges.current_charges(request):
        raise Conflict(
            f"Nothing to invoice on {request.reference}: no approved estimate, parts or labour."
        )
    lines = draft_lines(request)
    subtotal = sum(line.net_amount for line in lines)
    total = subtotal + sum(line.tax_amount for line in lines)
    earlier = [line for line in lines if line.kind == InvoiceLineKind.DEDUCTION]
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
    invoice = _issue_for_repair(lines, request, actor, "invoice_issued")
    # Money taken before the invoice (a deposit) counts against it.
    for payment in db.session.scalars(
        sa.select(Payment).where(
            Payment.service_request_id == request.id, Payment.invoice_id.is_(None)
        )
    ):
        payment.invoice_id = invoice.id
    return invoice


def on_repair_moved(
    request: ServiceRequest, *, target: str, actor: Optional[User], **_: object
) -> None:
    """The work is done: what it cost is invoiced now, whoever moved it (any face)."""
    if target in (
        RepairStatus.PAYMENT_PENDING,
        RepairStatus.READY_FOR_PICKUP,
        RepairStatus.DISPATCHED,
    ):
        invoice_when_ready(request, actor)


def invoice_when_ready(request: ServiceRequest, actor: Optional[User]) -> Optional[Invoice]:
    """The repair is done (the workflow calls this): invoice whatever is not invoiced yet.

    Nothing happens on a no-charge repair, a repair without charges, or one whose invoices
    already bill every charge; the completion rule then says what is missing.
    """
    if request.no_charge or not charges.current_charges(request):
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
    if not is_amount(amount) or amount > MAX_AMOUNT:
        raise ValidationFailed(
            "The deposit must be a positive amount.", fields={"amount": ["Must be positive."]}
        )
    if request.status in (
        RepairStatus.PAYMENT_PENDING,
        RepairStatus.READY_FOR_PICKUP,
        RepairStatus.DISPATCHED,
    ) or (request.status in (RepairStatus.COMPLETED, RepairStatus.CANCELED, RepairStatus.CLOSED)):
        raise Conflict(f"A deposit is taken before the work on {request.reference} is done.")
    rate = totals.tax_rate()
    net = totals.net_of_gross(amount, rate)
    line = InvoiceLine(
        kind=InvoiceLineKind.DEPOSIT,
        description=f"Deposit on repair {request.reference}",
        quantity=1,
        unit_amount=net,
        tax_rate_bp=rate,
        net_amount=net,
        tax_amount=amount - net,
    )
    return _issue_for_repair([line], request, actor, "deposit_invoice_issued")


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
    return _new_invoice(
        [_invoice_line(line, False) for line in worked.lines],
        actor=actor,
        action="sale_invoice_issued",
        service_request=None,
        customer_id=customer.id if customer else None,
        bill_to_name=name,
    )


def _issue_for_repair(
    lines: list[InvoiceLine], request: ServiceRequest, actor: Optional[User], action: str
) -> Invoice:
    """Issue ``lines`` as an invoice of the repair, billed to its customer, who is told."""
    invoice = _new_invoice(
        lines,
        actor=actor,
        action=action,
        service_request=request,
        customer_id=request.customer_id,
        bill_to_name=request.customer.full_name,
    )
    _tell_customer(invoice, request)
    return invoice


def _new_invoice(
    lines: list[InvoiceLine],
    *,
    actor: Optional[User],
    action: str,
    service_request: Optional[ServiceRequest],
    customer_id: Optional[int],
    bill_to_name: Optional[str],
) -> Invoice:
    """Issue an invoice of ``lines`` (numbered, final from now on), audited as ``action``."""
    invoice = Invoice(
        kind=InvoiceKind.INVOICE,
        service_request=service_request,
        customer_id=customer_id,
        bill_to_name=(bill_to_name or None) and bill_to_name[:120],
        currency=totals.currency(),
        status=InvoiceStatus.DRAFT,
        lines=lines,
    )
    issue(invoice)
    audit.record(
        actor,
        action,
        invoice,
        after={"number": invoice.number, "total": format_money(invoice.total, invoice.currency)},
    )
    return invoice


def _tell_customer(invoice: Invoice, request: ServiceRequest) -> None:
    notifications.notify(
        request.customer,
        "invoice_issued",
        dedup_key=f"invoice_issued:{invoice.id}",
        service_request=request,
        context={"attachments": [{"kind": "invoice", "invoice_id": invoice.id}]},
        values={"invoice": invoice},
    )
