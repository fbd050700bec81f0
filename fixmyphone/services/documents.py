"""Invoices, credit notes and receipts as PDF (pages from .pdf, imported when printing)."""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from flask import current_app

from ..domain_errors import NotFound
from ..extensions import db
from ..formatting import format_money, local_time
from ..labels import PAYMENT_METHOD, PAYMENT_STATE, label
from ..models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    Payment,
    PaymentPurpose,
    PaymentStatus,
    Refund,
    RefundStatus,
    User,
)
from .repairs import can_view

DATE = "%d %b %Y"


def can_download_invoice(user: User, invoice: Invoice) -> bool:
    """Issued invoices and credit notes: their customer and staff only (a walk-in sale's:
    staff, and its buyer when the sale was made to an account)."""
    if invoice.status != InvoiceStatus.ISSUED:
        return False
    if invoice.service_request is None:
        return user.is_staff or (invoice.customer_id is not None and invoice.customer_id == user.id)
    return can_view(user, invoice.service_request)


def can_download_receipt(user: User, payment: Payment) -> bool:
    """Receipts of succeeded payments: their customer and the staff who may see the repair
    (``can_view``); a walk-in sale's: staff, and its buyer."""
    if payment.status != PaymentStatus.SUCCEEDED:
        return False
    if payment.service_request is None:
        return user.is_staff or (payment.customer_id is not None and payment.customer_id == user.id)
    return can_view(user, payment.service_request)


def receipt_number(payment: Payment) -> str:
    """A receipt's printed number, e.g. RCT-000042."""
    return f"RCT-{payment.id:06d}"


def _customer_lines(user: Optional[User], name: Optional[str] = None) -> str:
    if user is None:
        return name or "Walk-in customer"
    lines = [user.full_name, user.email]
    profile = user.customer_profile
    if profile is not None:
        lines += [profile.address_line1, profile.address_line2]
        city = " ".join(p for p in (profile.postal_code, profile.city) if p)
        lines += [city, profile.country]
    return "\n".join(line for line in lines if line)


def _what_for(request) -> tuple[str, str]:
    if request is None:
        return ("For", "Counter sale")
    return ("Repair", f"{request.reference} · {request.brand} {request.model}")


def _tax_label(invoice: Invoice) -> str:
    rates = {line.tax_rate_bp for line in invoice.lines}
    if len(rates) == 1:
        rate = rates.pop()
        return f"Tax ({rate / 100:g}%)"
    return "Tax"


def _lines_and_totals(pdf, invoice: Invoice) -> None:
    """The invoice's lines (each with its tax rate) and its subtotal, tax and total."""
    from .pdf import FONT  # loaded on first use: fpdf2 (PDFs only)

    cur = invoice.currency
    pdf.set_font(FONT, "", 9)
    with pdf.table(
        col_widths=(78, 14, 28, 22, 28),
        text_align=("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT"),
        line_height=6,
    ) as table:
        head = table.row()
        for text in ("Description", "Qty", "Unit price", "Tax", "Amount"):
            head.cell(text)
        for line in invoice.lines:
            row = table.row()
            row.cell(line.description)
            row.cell(str(line.quantity))
            row.cell(format_money(line.unit_amount, cur))
            row.cell(f"{line.tax_rate_bp / 100:g}%")
            row.cell(format_money(line.net_amount, cur))
    pdf.ln(4)
    pdf.totals(
        [
            ("Subtotal", format_money(invoice.subtotal, cur)),
            (_tax_label(invoice), format_money(invoice.tax, cur)),
            (
                "Total credited" if invoice.kind == InvoiceKind.CREDIT_NOTE else "Total",
                format_money(invoice.total, cur),
            ),
        ]
    )


def render_invoice(invoice_id: int) -> bytes:
    """The invoice (or credit note) ``invoice_id`` as PDF bytes."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None:
        raise NotFound("No such invoice.")
    credit = invoice.kind == InvoiceKind.CREDIT_NOTE
    title = "Credit note" if credit else "Invoice"
    number = invoice.number or "DRAFT"
    from .pdf import FONT, ShopDocument  # loaded on first use: fpdf2 (PDFs only)

    pdf = ShopDocument(f"{title} {number}")
    pdf.heading(f"{title} {number}")
    request = invoice.service_request
    facts = [
        ("Date", local_time(invoice.issued_at, DATE) if invoice.issued_at else "not issued"),
        _what_for(request),
    ]
    if credit and invoice.credit_for_id:
        original: Optional[Invoice] = db.session.get(Invoice, invoice.credit_for_id)
        if original is not None:
            facts.append(("Credit for", original.number or str(original.id)))
    if request is not None and request.no_charge:
        why = request.no_charge_reason or "Warranty repair"
        facts.append(("No charge", f"{why}: labour and parts are not charged."))
    facts.append(("Billed to", _customer_lines(invoice.customer, invoice.bill_to_name)))
    pdf.facts(facts)

    _lines_and_totals(pdf, invoice)
    pdf.ln(6)
    pdf.set_font(FONT, "", 9)
    note = (
        "This credit note reduces the amount you owe, or is refunded to you."
        if credit
        else f"Thank you for choosing {current_app.config['SHOP_NAME']}."
    )
    pdf.multi_cell(0, 5, note)
    return bytes(pdf.output())


def render_receipt(payment_id: int) -> bytes:
    """The receipt of payment ``payment_id`` as PDF bytes."""
    from .pdf import FONT, ShopDocument  # loaded on first use: fpdf2 (PDFs only)

    payment = db.session.get(Payment, payment_id)
    if payment is None:
        raise NotFound("No such payment.")
    number = receipt_number(payment)
    pdf = ShopDocument(f"Receipt {number}")
    pdf.heading(f"Receipt {number}")
    request = payment.service_request
    sale = payment.invoice if request is None else None
    facts = [
        ("Date", local_time(payment.succeeded_at or payment.created_at, DATE)),
        _what_for(request),
        ("Received from", _customer_lines(payment.customer, sale.bill_to_name if sale else None)),
        ("Method", label(PAYMENT_METHOD, payment.method)),
        ("Status", label(PAYMENT_STATE, payment.status)),
    ]
    if payment.purpose == PaymentPurpose.DEPOSIT:
        facts.append(("For", "Booking deposit"))
    if payment.reference:
        facts.append(("Reference", payment.reference))
    if payment.invoice_id:
        invoice = db.session.get(Invoice, payment.invoice_id)
        if invoice is not None and invoice.number:
            facts.append(("Invoice", invoice.number))
    pdf.facts(facts)

    paid_for = db.session.get(Invoice, payment.invoice_id) if payment.invoice_id else None
    if paid_for is not None and paid_for.number:
        # What the money paid for: the invoice's lines with their tax.
        pdf.set_font(FONT, "B", 10)
        pdf.cell(0, 7, "What this payment is for", new_x="LMARGIN", new_y="NEXT")
        _lines_and_totals(pdf, paid_for)
        pdf.ln(4)
    cur = payment.currency
    rows = []
    if payment.tendered and payment.tendered > payment.amount:
        rows.append(("Cash handed over", format_money(payment.tendered, cur)))
        rows.append(("Change given", format_money(payment.tendered - payment.amount, cur)))
    rows.append(("Amount paid", format_money(payment.amount, cur)))
    refunds = db.session.scalars(
        sa.select(Refund)
        .where(Refund.payment_id == payment.id, Refund.status == RefundStatus.SUCCEEDED)
        .order_by(Refund.id)
    ).all()
    for refund in refunds:
        when = local_time(refund.created_at, DATE)
        rows.append((f"Refunded {when}", "-" + format_money(refund.amount, cur)))
    if refunds:
        rows.append(
            ("Net received", format_money(payment.amount - sum(r.amount for r in refunds), cur))
        )
    pdf.totals(rows)
    pdf.ln(6)
    pdf.set_font(FONT, "", 9)
    pdf.multi_cell(0, 5, f"Thank you for your payment. {current_app.config['SHOP_NAME']}")
    return bytes(pdf.output())
