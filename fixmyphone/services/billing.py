"""What a repair costs and what is still owed: its charges, balance and the completion rule."""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa

from ..extensions import db
from ..models import (
    LINE_LABOUR,
    LINE_PART,
    PAYMENT_SUCCEEDED,
    Invoice,
    LabourEntry,
    Payment,
    Refund,
    RepairCharge,
    RequestPart,
    ServiceRequest,
    User,
    utcnow,
)
from ..workflow import UnpaidBalance
from . import totals
from .errors import Conflict, Forbidden, ValidationFailed


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

    from ..formatting import ZERO_DECIMAL

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


def is_document_of(invoice: Invoice, request: ServiceRequest) -> bool:
    """True for an issued invoice or credit note of ``request`` (what its customer may read)."""
    return invoice.status == "issued" and invoice.service_request_id == request.id


def invoice_balance(invoice: Invoice) -> int:
    """What is still owed on one invoice (a walk-in sale's): its total minus credit notes,
    minus succeeded payments made against it, plus what was refunded of those."""
    credited = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Invoice.total), 0)).where(
            Invoice.credit_for_id == invoice.id,
            Invoice.kind == "credit_note",
            Invoice.status == "issued",
        )
    )
    paid = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Payment.amount), 0)).where(
            Payment.invoice_id == invoice.id, Payment.status == PAYMENT_SUCCEEDED
        )
    )
    refunded = db.session.scalar(
        sa.select(sa.func.coalesce(sa.func.sum(Refund.amount), 0))
        .join(Payment, Refund.payment_id == Payment.id)
        .where(Payment.invoice_id == invoice.id, Refund.status == PAYMENT_SUCCEEDED)
    )
    return invoice.total - int(credited or 0) - int(paid or 0) + int(refunded or 0)


# ---------------------------------------------------------------- what the repair costs


def current_charges(request: ServiceRequest) -> list[totals.ChargeLine]:
    """What the repair costs now: the approved estimate's lines, adjusted by what happened.

    A part the estimate reserved and that went back to the shelf is not charged; a part
    consumed without being on the estimate is; once the technician records labour, the
    recorded labour replaces the estimated labour. Fees and discounts stay as approved.
    """
    if request.id is None:
        return []
    approved = db.session.scalars(
        sa.select(RepairCharge)
        .where(RepairCharge.service_request_id == request.id)
        .order_by(RepairCharge.id)
    ).all()
    used = db.session.scalars(
        sa.select(RequestPart)
        .where(RequestPart.service_request_id == request.id)
        .order_by(RequestPart.id)
    ).all()
    labour = db.session.scalars(
        sa.select(LabourEntry)
        .where(LabourEntry.service_request_id == request.id)
        .order_by(LabourEntry.id)
    ).all()
    status_of = {line.id: line.status for line in used}
    lines: list[totals.ChargeLine] = []
    charged_parts: set[int] = set()
    for charge in approved:
        if charge.kind == LINE_PART and charge.request_part_id is not None:
            if status_of.get(charge.request_part_id) == "released":
                continue
            charged_parts.add(charge.request_part_id)
        if charge.kind == LINE_LABOUR and labour:
            continue
        lines.append(
            totals.ChargeLine(
                kind=charge.kind,
                description=charge.description,
                quantity=charge.quantity,
                unit_amount=charge.unit_amount,
                minutes=charge.minutes,
                tax_exempt=charge.tax_exempt,
                part_id=charge.part_id,
                request_part_id=charge.request_part_id,
            )
        )
    for line in used:
        if line.status == "consumed" and line.id not in charged_parts:
            lines.append(
                totals.ChargeLine(
                    kind=LINE_PART,
                    description=line.part.name,
                    quantity=line.quantity,
                    unit_amount=line.unit_price,
                    part_id=line.part_id,
                    request_part_id=line.id,
                )
            )
    for entry in labour:
        worked = f" ({totals.hours_text(entry.minutes)})" if entry.minutes else ""
        lines.append(
            totals.ChargeLine(
                kind=LINE_LABOUR,
                description=f"Labour: {entry.description}{worked}"[:300],
                unit_amount=entry.amount,
            )
        )
    return lines


def charges_totals(request: ServiceRequest) -> totals.Totals:
    """The current charges with their tax and total (all 0 on a no-charge repair)."""
    return totals.compute(current_charges(request), free=request.no_charge)


def has_invoice(request: ServiceRequest) -> bool:
    """True once an invoice (not a credit note) was issued for the repair."""
    return bool(
        db.session.scalar(
            sa.select(Invoice.id)
            .where(
                Invoice.service_request_id == request.id,
                Invoice.kind == "invoice",
                Invoice.status == "issued",
            )
            .limit(1)
        )
    )


def completion_blocker(request: ServiceRequest) -> Optional[str]:
    """Why the repair cannot be completed yet, in words (money as money), or None.

    Completed means paid: an invoice exists, it covers the charges and nothing is owed; or an
    admin decided the repair is free (warranty, goodwill) and nothing is owed.
    """
    from ..formatting import format_money

    due = balance_due(request)
    if due > 0:
        return f"{format_money(due)} is still due on {request.reference}: take the payment first."
    if request.no_charge:
        return None
    charged = charges_totals(request)
    if not has_invoice(request):
        if not charged.lines:
            return (
                f"{request.reference} has no charges and no invoice: bill it, or an admin marks "
                "it no-charge (warranty, goodwill) with a reason."
            )
        return (
            f"{request.reference} has not been invoiced yet ({format_money(charged.total)} "
            "of charges): issue the invoice and take the payment first."
        )
    uninvoiced = charged.total - invoiced_total(request)
    if uninvoiced > 0:
        return (
            f"{format_money(uninvoiced)} of charges on {request.reference} are not invoiced yet: "
            "issue the invoice for them and take the payment first."
        )
    return None


def refuse_unpaid_completion(request: ServiceRequest, *, target: str, **_: object) -> None:
    """Completed means paid (or explicitly free): the refusal says what is missing, in money."""
    if target == "completed":
        blocker = completion_blocker(request)
        if blocker:
            raise UnpaidBalance(blocker)


def mark_no_charge(request: ServiceRequest, *, reason: str, actor: User) -> None:
    """An admin decides the repair costs the customer nothing (warranty, goodwill), with why."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin decides that a repair is free of charge.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            "Say why the repair is free of charge.", fields={"reason": ["Required."]}
        )
    if len(reason) > 300:
        raise ValidationFailed("The reason is too long.", fields={"reason": ["At most 300."]})
    if request.status in ("completed", "canceled", "closed"):
        raise Conflict(f"{request.reference} is {request.status}.")
    before = {"no_charge": request.no_charge, "reason": request.no_charge_reason}
    request.no_charge = True
    request.no_charge_reason = reason
    request.no_charge_by_id = actor.id
    request.no_charge_at = utcnow()
    from . import audit

    audit.record(actor, "no_charge_marked", request, before=before, after={"reason": reason})


def clear_no_charge(request: ServiceRequest, *, actor: User) -> None:
    """An admin takes the no-charge decision back: the repair is billed as usual again."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin changes whether a repair is free of charge.")
    if request.status in ("completed", "canceled", "closed"):
        raise Conflict(f"{request.reference} is {request.status}.")
    if not request.no_charge:
        raise Conflict(f"{request.reference} is not marked no-charge.")
    from . import audit

    audit.record(
        actor,
        "no_charge_cleared",
        request,
        before={"reason": request.no_charge_reason},
        after={"no_charge": False},
    )
    request.no_charge = False
    request.no_charge_reason = None
    request.no_charge_by_id = actor.id
    request.no_charge_at = utcnow()
