"""What a repair costs now, and the rule "completed means paid".

The charges are the approved estimate's lines, adjusted by the parts really used and the labour
really recorded. A repair is completed only once an invoice covers them and nothing is owed, or
an admin decided (with a reason, audited) that it costs the customer nothing.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa

from ...domain_errors import Conflict, Forbidden, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...models import (
    Invoice,
    InvoiceKind,
    InvoiceStatus,
    LabourEntry,
    LineKind,
    RepairCharge,
    RepairStatus,
    RequestPart,
    RequestPartStatus,
    ServiceRequest,
    User,
    utcnow,
)
from ...workflow import UnpaidBalance
from .. import audit
from . import totals
from .balances import balance_due, invoiced_total
from .ledger import RepairMoney


def current_charges(
    request: ServiceRequest, money: Optional[RepairMoney] = None
) -> list[totals.ChargeLine]:
    """What the repair costs now: the approved estimate's lines, adjusted by what happened.

    A part the estimate reserved and that went back to the shelf is not charged; a part
    consumed without being on the estimate is; once the technician records labour, the
    recorded labour replaces the estimated labour. Fees and discounts stay as approved.
    ``money``: the repair's rows when already read (``ledger``).
    """
    if request.id is None:
        return []
    if money is not None:
        return _adjusted(money.charges, money.parts, money.labour)
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
    return _adjusted(approved, used, labour)


def _adjusted(
    approved: list[RepairCharge], used: list[RequestPart], labour: list[LabourEntry]
) -> list[totals.ChargeLine]:
    status_of = {line.id: line.status for line in used}
    lines: list[totals.ChargeLine] = []
    charged_parts: set[int] = set()
    for charge in approved:
        if charge.kind == LineKind.PART and charge.request_part_id is not None:
            if status_of.get(charge.request_part_id) == RequestPartStatus.RELEASED:
                continue
            charged_parts.add(charge.request_part_id)
        if charge.kind == LineKind.LABOUR and labour:
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
        if line.status == RequestPartStatus.CONSUMED and line.id not in charged_parts:
            lines.append(
                totals.ChargeLine(
                    kind=LineKind.PART,
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
                kind=LineKind.LABOUR,
                description=f"Labour: {entry.description}{worked}"[:300],
                unit_amount=entry.amount,
            )
        )
    return lines


def charges_totals(request: ServiceRequest, money: Optional[RepairMoney] = None) -> totals.Totals:
    """The current charges with their tax and total (all 0 on a no-charge repair)."""
    return totals.compute(current_charges(request, money), free=request.no_charge)


def has_invoice(request: ServiceRequest, money: Optional[RepairMoney] = None) -> bool:
    """True once an invoice (not a credit note) was issued for the repair."""
    if money is not None:
        return bool(money.issued_invoices())
    return bool(
        db.session.scalar(
            sa.select(Invoice.id)
            .where(
                Invoice.service_request_id == request.id,
                Invoice.kind == InvoiceKind.INVOICE,
                Invoice.status == InvoiceStatus.ISSUED,
            )
            .limit(1)
        )
    )


def completion_blocker(
    request: ServiceRequest, money: Optional[RepairMoney] = None
) -> Optional[str]:
    """Why the repair cannot be completed yet, in words (money as money), or None.

    Completed means paid: an invoice exists, it covers the charges and nothing is owed; or an
    admin decided the repair is free (warranty, goodwill) and nothing is owed. ``money``: the
    repair's money when already read (``ledger``).
    """
    due = balance_due(request) if money is None else money.balance
    if due > 0:
        return f"{format_money(due)} is still due on {request.reference}: take the payment first."
    if request.no_charge:
        return None
    charged = charges_totals(request, money)
    if not has_invoice(request, money):
        if not charged.lines:
            return (
                f"{request.reference} has no charges and no invoice: bill it, or an admin marks "
                "it no-charge (warranty, goodwill) with a reason."
            )
        return (
            f"{request.reference} has not been invoiced yet ({format_money(charged.total)} "
            "of charges): issue the invoice and take the payment first."
        )
    uninvoiced = charged.total - (invoiced_total(request) if money is None else money.invoiced)
    if uninvoiced > 0:
        return (
            f"{format_money(uninvoiced)} of charges on {request.reference} are not invoiced yet: "
            "issue the invoice for them and take the payment first."
        )
    return None


def refuse_unpaid_completion(request: ServiceRequest, *, target: str, **_: object) -> None:
    """Completed means paid (or explicitly free): the refusal says what is missing, in money."""
    if target == RepairStatus.COMPLETED:
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
    if request.status in (RepairStatus.COMPLETED, RepairStatus.CANCELED, RepairStatus.CLOSED):
        raise Conflict(f"{request.reference} is {request.status}.")
    before = {"no_charge": request.no_charge, "reason": request.no_charge_reason}
    request.no_charge = True
    request.no_charge_reason = reason
    request.no_charge_by_id = actor.id
    request.no_charge_at = utcnow()
    audit.record(actor, "no_charge_marked", request, before=before, after={"reason": reason})


def clear_no_charge(request: ServiceRequest, *, actor: User) -> None:
    """An admin takes the no-charge decision back: the repair is billed as usual again."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin changes whether a repair is free of charge.")
    if request.status in (RepairStatus.COMPLETED, RepairStatus.CANCELED, RepairStatus.CLOSED):
        raise Conflict(f"{request.reference} is {request.status}.")
    if not request.no_charge:
        raise Conflict(f"{request.reference} is not marked no-charge.")
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
