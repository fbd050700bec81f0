"""Walk-in sales at the counter: accessories sold without a repair.

A sale is the parts marked sellable, taken out of stock through services/inventory, billed on
an invoice from the shop's one gap-free sequence (``invoices.issue_sale_invoice``) and paid in
one go by cash, the card terminal or bank transfer (``payments.record_offline_payment``). As
for a repair, an admin's payment counts at once and a technician's waits for an admin's
verification. The caller commits; any refusal leaves nothing behind once it rolls back.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa

from ...domain_errors import NotFound, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LineKind,
    Part,
    Payment,
    PaymentMethod,
    User,
)
from .. import audit, inventory
from . import counter, invoices, payments, totals

# More than this of one accessory at once is a typing slip, not a sale.
MAX_QUANTITY = 99
RECENT_SALES = 10


def sellable_parts() -> list[Part]:
    """The accessories the counter sells, by name (out-of-stock ones too, marked as such)."""
    return list(db.session.scalars(sa.select(Part).where(Part.sellable).order_by(Part.name)))


@dataclass
class Basket:
    """What the buyer takes: parts and quantities, with the sale's lines and totals."""

    items: list[tuple[Part, int]]
    totals: totals.Totals

    @property
    def charge_lines(self) -> list[totals.ChargeLine]:
        return [_charge_line(part, quantity) for part, quantity in self.items]


def _charge_line(part: Part, quantity: int) -> totals.ChargeLine:
    return totals.ChargeLine(
        kind=LineKind.PART,
        description=f"{part.name} ({part.sku})",
        quantity=quantity,
        unit_amount=part.price,
        part_id=part.id,
    )


def _part_id(raw: str) -> Optional[int]:
    text = (raw or "").strip()
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 9 else None


def basket(rows: Iterable[tuple[str, str]]) -> Basket:
    """Read the sale's rows as typed (part id, quantity); blank rows are skipped, a part
    chosen twice is counted once with both quantities. Raises ValidationFailed naming what
    is wrong: an unknown or unsellable part, a bad quantity, stock that is not there."""
    errors: dict[str, list[str]] = {}
    wanted: dict[int, int] = {}
    for raw_part, raw_quantity in rows:
        if not (raw_part or "").strip():
            continue
        part_id = _part_id(raw_part)
        text = (raw_quantity or "").strip() or "1"
        quantity = int(text) if text.isascii() and text.isdigit() and len(text) <= 4 else 0
        if part_id is None:
            errors.setdefault("lines", []).append("Choose each accessory from the list.")
            continue
        if not 1 <= quantity <= MAX_QUANTITY:
            errors.setdefault("quantity", []).append(
                f"A quantity is a whole number from 1 to {MAX_QUANTITY}."
            )
            continue
        wanted[part_id] = wanted.get(part_id, 0) + quantity
    parts = {
        part.id: part
        for part in db.session.scalars(sa.select(Part).where(Part.id.in_(list(wanted))))
    }
    items: list[tuple[Part, int]] = []
    for part_id, quantity in wanted.items():
        part = parts.get(part_id)
        if part is None or not part.sellable:
            errors.setdefault("lines", []).append("That accessory is not sold at the counter.")
            continue
        if part.available < quantity:
            errors.setdefault("lines", []).append(
                f"{part.name}: only {max(part.available, 0)} in stock, {quantity} asked."
            )
            continue
        items.append((part, quantity))
    if not wanted and not errors:
        errors["lines"] = ["Add at least one accessory to the sale."]
    if errors:
        raise ValidationFailed("The sale needs attention.", fields=errors)
    return Basket(items=items, totals=totals.compute([_charge_line(p, q) for p, q in items]))


@dataclass
class Sold:
    """A finished sale: its invoice, its payment and the change handed back."""

    invoice: Invoice
    payment: Payment
    tendered: int
    change: int


def sell(
    actor: User,
    rows: Iterable[tuple[str, str]],
    *,
    method: str,
    tendered: Optional[str] = None,
    reference: Optional[str] = None,
    bill_to_name: Optional[str] = None,
) -> Sold:
    """Sell accessories to a walk-in buyer: invoice, stock and payment, all or nothing.

    ``tendered`` is the cash handed over as typed (blank: the exact total); the buyer's name,
    if given, is printed on the invoice.
    """
    errors: dict[str, list[str]] = {}
    if method not in payments.OFFLINE_METHODS:
        labels = ", ".join(payments.method_label(m) for m in payments.OFFLINE_METHODS)
        errors["method"] = [f"Choose how the buyer pays: {labels}."]
    cash = (
        counter.read_amount(tendered, "tendered", errors) if method == PaymentMethod.CASH else None
    )
    name = (bill_to_name or "").strip()
    if len(name) > 120:
        errors["bill_to_name"] = ["At most 120 characters."]
    try:
        chosen = basket(rows)
    except ValidationFailed as exc:
        errors = {**(exc.fields or {}), **errors}
        chosen = None
    if chosen is not None and cash is not None and cash < chosen.totals.total:
        errors["tendered"] = [
            f"The cash handed over ({format_money(cash)}) is less than the total "
            f"({format_money(chosen.totals.total)})."
        ]
    if errors or chosen is None:
        raise ValidationFailed("The sale needs attention.", fields=errors)

    invoice = invoices.issue_sale_invoice(
        chosen.charge_lines, actor=actor, bill_to_name=name or None
    )
    for part, quantity in chosen.items:
        inventory.sell(part, quantity, actor, note=f"Sold on {invoice.number}")
    payment = payments.record_offline_payment(
        None,
        invoice=invoice,
        amount=invoice.total,
        method=method,
        actor=actor,
        reference=reference,
    )
    if method == PaymentMethod.CASH:
        cash = invoice.total if cash is None else cash
        payment.tendered = cash
    if actor.is_admin:
        payments.verify_payment(payment, actor)
        counter.settle_verification_alerts(payment)
    tendered_amount = cash if cash is not None else invoice.total
    change = tendered_amount - invoice.total
    audit.record(
        actor,
        "counter_sale",
        invoice,
        after={
            "number": invoice.number,
            "total": invoice.total,
            "method": method,
            "tendered": cash,
            "change": change,
            "items": {part.sku: quantity for part, quantity in chosen.items},
        },
    )
    return Sold(invoice=invoice, payment=payment, tendered=tendered_amount, change=change)


def get_sale(viewer: User, invoice_id: int) -> Invoice:
    """A walk-in sale's invoice for staff, else NotFound."""
    invoice = db.session.get(Invoice, invoice_id) if viewer.is_staff else None
    if (
        invoice is None
        or invoice.service_request_id is not None
        or invoice.kind != InvoiceKind.INVOICE
    ):
        raise NotFound("No such sale.")
    return invoice


def payment_of(invoice: Invoice) -> Optional[Payment]:
    """The payment taken for a sale."""
    return db.session.scalar(
        sa.select(Payment).where(Payment.invoice_id == invoice.id).order_by(Payment.id).limit(1)
    )


def recent_sales(limit: int = RECENT_SALES) -> list[Invoice]:
    """The latest walk-in sales, newest first."""
    return list(
        db.session.scalars(
            sa.select(Invoice)
            .where(
                Invoice.service_request_id.is_(None),
                Invoice.kind == InvoiceKind.INVOICE,
                Invoice.status == InvoiceStatus.ISSUED,
            )
            .order_by(Invoice.id.desc())
            .limit(limit)
        )
    )
