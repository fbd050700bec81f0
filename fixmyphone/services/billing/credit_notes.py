"""Credit notes: an admin credits part or all of an issued invoice, and a refund of invoiced
money is credited on the invoices it paid, so the balance and the books stay right."""

from __future__ import annotations

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
    Refund,
    User,
)
from .. import audit
from .amounts import is_amount
from .balances import balance_due, invoice_balance
from .issuing import credited_total, issue, issued_invoices


def issue_credit_note(
    invoice: Invoice, *, amount: int, reason: str, actor: Optional[User], system: bool = False
) -> Invoice:
    """Credit part or all of an issued invoice (tax split in the invoice's proportion).

    An admin decides a credit note; ``system`` is for the refund path, where the admin's
    decision was the refund itself (it may be confirmed later by Stripe's webhook).
    """
    if not system and (actor is None or not actor.is_admin):
        raise Forbidden("Only an admin issues credit notes.")
    if invoice.kind != InvoiceKind.INVOICE or invoice.status != InvoiceStatus.ISSUED:
        raise Conflict("Only an issued invoice can be credited.")
    if not is_amount(amount):
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
        kind=InvoiceLineKind.CREDIT,
        description=f"Credit for {invoice.number}: {reason.strip()}"[:300],
        quantity=1,
        unit_amount=net,
        tax_rate_bp=rates.pop() if len(rates) == 1 else 0,
        net_amount=net,
        tax_amount=amount - net,
    )
    note = Invoice(
        kind=InvoiceKind.CREDIT_NOTE,
        credit_for_id=invoice.id,
        service_request_id=invoice.service_request_id,
        customer_id=invoice.customer_id,
        bill_to_name=invoice.bill_to_name,
        currency=invoice.currency,
        status=InvoiceStatus.DRAFT,
        lines=[line],
    )
    issue(note)
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
        overpaid = max(0, -(balance_due(request) - refund.amount))
        targets = issued_invoices(request)
    else:
        invoice = payment.invoice
        overpaid = max(0, -(invoice_balance(invoice) - refund.amount))
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
