"""Itemised estimates: staff build them line by line, the customer approves or declines.

The estimate's state lives in the repair's ``quote_*`` columns (a one-amount quote is an
estimate of one fee line): ``draft`` while staff change lines, ``pending`` once sent,
``approved`` or ``declined`` after the customer's decision. Any change to the lines after it
was sent or approved makes it a draft again, so the customer approves every version they pay
for; ``estimate_version`` counts the versions sent and a decision names the one it was made on.
On approval the lines are copied into the repair's charges (``RepairCharge``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..formatting import format_money
from ..models import (
    LINE_DISCOUNT,
    LINE_FEE,
    LINE_LABOUR,
    LINE_PART,
    QUOTE_APPROVED,
    QUOTE_DECLINED,
    QUOTE_DRAFT,
    QUOTE_NONE,
    QUOTE_PENDING,
    EstimateLine,
    Part,
    RepairCharge,
    ServiceRequest,
    StatusChange,
    User,
    utcnow,
)
from ..workflow import label
from . import audit, inventory, notifications
from .billing import totals
from .errors import Conflict, Forbidden, ValidationFailed

# Repairs that are finished or canceled: their estimate is history.
CLOSED_STATUSES = ("completed", "canceled", "closed")
# From here the work is done and invoiced: the estimate no longer changes (labour can still be
# recorded; an admin corrects an invoice with a credit note).
LOCKED_STATUSES = ("payment_pending", "ready_for_pickup", "dispatched", *CLOSED_STATUSES)
MAX_QUANTITY = 99
MAX_MINUTES = 100 * 60
MAX_LINES = 50
STATUS_LABELS = {
    QUOTE_NONE: "No estimate yet",
    QUOTE_DRAFT: "Draft: not sent to the customer",
    QUOTE_PENDING: "Sent: waiting for the customer",
    QUOTE_APPROVED: "Approved by the customer",
    QUOTE_DECLINED: "Declined by the customer",
}


# ---------------------------------------------------------------- reading


def lines_for(request: ServiceRequest) -> list[EstimateLine]:
    """The estimate's lines, in the order they were added."""
    if request.id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(EstimateLine)
            .where(EstimateLine.service_request_id == request.id)
            .order_by(EstimateLine.id)
        )
    )


def charges_for(request: ServiceRequest) -> list[RepairCharge]:
    """The approved estimate's lines (the repair's charges), in order."""
    if request.id is None:
        return []
    return list(
        db.session.scalars(
            sa.select(RepairCharge)
            .where(RepairCharge.service_request_id == request.id)
            .order_by(RepairCharge.id)
        )
    )


@dataclass
class EstimateView:
    """An estimate as a page or the API shows it: state, version, lines and totals."""

    status: str
    status_label: str
    version: int
    totals: totals.Totals
    sent_at: Optional[datetime]
    decided_at: Optional[datetime]
    # True when what is shown is the earlier approved version (a revision is being prepared).
    showing_approved: bool = False
    line_ids: tuple[int, ...] = ()

    @property
    def decidable(self) -> bool:
        return self.status == QUOTE_PENDING and not self.showing_approved


def staff_view(request: ServiceRequest) -> EstimateView:
    """The estimate as staff build it: every line, whatever its state."""
    lines = lines_for(request)
    return EstimateView(
        status=request.quote_status,
        status_label=STATUS_LABELS.get(request.quote_status, request.quote_status),
        version=request.estimate_version,
        totals=totals.compute(lines, free=request.no_charge),
        sent_at=request.quote_sent_at,
        decided_at=request.quote_decided_at,
        line_ids=tuple(line.id for line in lines),
    )


def customer_view(request: ServiceRequest) -> Optional[EstimateView]:
    """The estimate as the customer sees it: what was sent to them; while a revision is being
    prepared, the version they approved before; None when there is nothing to show yet."""
    status = request.quote_status
    if status in (QUOTE_PENDING, QUOTE_APPROVED, QUOTE_DECLINED):
        view = staff_view(request)
        view.status_label = {
            QUOTE_PENDING: "Waiting for your approval",
            QUOTE_APPROVED: "Approved",
            QUOTE_DECLINED: "Declined",
        }[status]
        return view
    if status == QUOTE_DRAFT:
        charges = charges_for(request)
        if charges:
            return EstimateView(
                status=QUOTE_APPROVED,
                status_label="Approved (a revised estimate is on its way)",
                version=charges[0].estimate_version,
                totals=totals.compute(charges, free=request.no_charge),
                sent_at=request.quote_sent_at,
                decided_at=request.quote_decided_at,
                showing_approved=True,
            )
    return None


def api_body(request: ServiceRequest) -> Optional[dict]:
    """The customer's view of the estimate in the API's shapes (money as amount + currency)."""
    view = customer_view(request)
    if view is None:
        return None
    cur = view.totals.currency
    return {
        "status": view.status,
        "version": view.version,
        "lines": [
            {
                "kind": line.kind,
                "description": line.description,
                "quantity": line.quantity,
                "minutes": line.minutes,
                "unit_amount": totals.money(line.unit_amount, cur),
                "tax_exempt": line.tax_exempt,
                "tax_rate_bp": line.tax_rate_bp,
                "net": totals.money(line.net, cur),
                "tax": totals.money(line.tax, cur),
            }
            for line in view.totals.lines
        ],
        "subtotal": totals.money(view.totals.subtotal, cur),
        "tax": totals.money(view.totals.tax, cur),
        "total": totals.money(view.totals.total, cur),
        "no_charge": view.totals.free,
        "sent_at": view.sent_at,
        "decided_at": view.decided_at,
    }


# ---------------------------------------------------------------- building


def _may_edit(request: ServiceRequest, actor: User, *, adding: bool = False) -> None:
    from .repairs import can_move

    if actor is None or not actor.is_staff or not can_move(actor, request):
        raise Forbidden("Only the assigned technician or an admin can change the estimate.")
    if request.status in LOCKED_STATUSES:
        raise Conflict(
            f"{request.reference} is {label(request.status).lower()}: its estimate no longer "
            "changes (record labour, or an admin credits the invoice)."
        )
    if adding and len(lines_for(request)) >= MAX_LINES:
        raise Conflict(f"An estimate has at most {MAX_LINES} lines.")


def _changed(request: ServiceRequest) -> None:
    """Lines changed: whatever the customer saw or approved needs a new decision."""
    if request.quote_status != QUOTE_DRAFT:
        request.quote_status = QUOTE_DRAFT


def _description(raw: Optional[str], default: str = "") -> str:
    text = (raw or "").strip() or default
    if not text:
        raise ValidationFailed("Describe the line.", fields={"description": ["Required."]})
    if len(text) > 300:
        raise ValidationFailed(
            "The description is too long.", fields={"description": ["At most 300 characters."]}
        )
    return text


def _amount(value: object, field: str = "amount") -> int:
    from .billing.amounts import MAX_AMOUNT, is_amount

    if not is_amount(value) or value > MAX_AMOUNT:
        raise ValidationFailed(
            "Give a positive amount.", fields={field: ["Give a positive amount."]}
        )
    return int(value)


def _add(request: ServiceRequest, actor: User, **columns) -> EstimateLine:
    line = EstimateLine(service_request_id=request.id, created_by_id=actor.id, **columns)
    line.net_amount = totals.line_net(line.kind, line.quantity, line.unit_amount, line.minutes)
    db.session.add(line)
    _changed(request)
    db.session.flush()
    audit.record(
        actor,
        "estimate_line_added",
        request,
        after={
            "kind": line.kind,
            "description": line.description,
            "quantity": line.quantity,
            "minutes": line.minutes,
            "amount": format_money(abs(line.net_amount)),
        },
    )
    return line


def add_part_line(
    request: ServiceRequest,
    part: Part,
    quantity: int,
    actor: User,
    *,
    tax_exempt: bool = False,
) -> EstimateLine:
    """A part from inventory at its price; the quantity is reserved for the repair now."""
    _may_edit(request, actor, adding=True)
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity:
        raise ValidationFailed("Give a quantity of 1 or more.", fields={"quantity": ["1 or more."]})
    if quantity > MAX_QUANTITY:
        raise ValidationFailed(
            f"At most {MAX_QUANTITY} at once.", fields={"quantity": [f"At most {MAX_QUANTITY}."]}
        )
    reservation = inventory.reserve_part(request, part, quantity, actor)
    return _add(
        request,
        actor,
        kind=LINE_PART,
        part_id=part.id,
        request_part_id=reservation.id,
        description=part.name[:300],
        quantity=quantity,
        unit_amount=part.price,
        tax_exempt=tax_exempt,
    )


def add_labour_line(
    request: ServiceRequest,
    *,
    actor: User,
    description: Optional[str] = None,
    minutes: Optional[int] = None,
    amount: Optional[int] = None,
    tax_exempt: bool = False,
) -> EstimateLine:
    """Bench labour: ``minutes`` at the shop's hourly ``LABOUR_RATE``, or a fixed ``amount``."""
    _may_edit(request, actor, adding=True)
    text = _description(description, "Labour")
    if (minutes is None) == (amount is None):
        raise ValidationFailed(
            "Give either the time (hours) or a fixed amount.",
            fields={"hours": ["Give the hours, or a fixed amount instead."]},
        )
    if minutes is not None:
        if not isinstance(minutes, int) or isinstance(minutes, bool) or not 0 < minutes:
            raise ValidationFailed("Give the time worked.", fields={"hours": ["More than 0."]})
        if minutes > MAX_MINUTES:
            raise ValidationFailed("That is too long.", fields={"hours": ["At most 100 hours."]})
        rate = int(current_app.config.get("LABOUR_RATE") or 0)
        if rate <= 0:
            raise Conflict("The shop has no hourly labour rate (LABOUR_RATE): give an amount.")
        return _add(
            request,
            actor,
            kind=LINE_LABOUR,
            description=text,
            quantity=1,
            minutes=minutes,
            unit_amount=rate,
            tax_exempt=tax_exempt,
        )
    return _add(
        request,
        actor,
        kind=LINE_LABOUR,
        description=text,
        quantity=1,
        unit_amount=_amount(amount),
        tax_exempt=tax_exempt,
    )


def add_fee_line(
    request: ServiceRequest,
    *,
    actor: User,
    description: str,
    amount: int,
    tax_exempt: bool = False,
) -> EstimateLine:
    """Another fee (diagnosis, data recovery, shipping) of a fixed amount."""
    _may_edit(request, actor, adding=True)
    return _add(
        request,
        actor,
        kind=LINE_FEE,
        description=_description(description),
        quantity=1,
        unit_amount=_amount(amount),
        tax_exempt=tax_exempt,
    )


def add_discount_line(
    request: ServiceRequest,
    *,
    actor: User,
    description: str,
    amount: int,
    tax_exempt: bool = False,
) -> EstimateLine:
    """A discount (taken off before tax); it cannot bring the estimate below zero."""
    _may_edit(request, actor, adding=True)
    text = _description(description, "Discount")
    value = _amount(amount)
    before = totals.compute(lines_for(request))
    if value > before.subtotal:
        message = f"The discount is more than the estimate ({format_money(before.subtotal)})."
        raise ValidationFailed(message, fields={"amount": [message]})
    return _add(
        request,
        actor,
        kind=LINE_DISCOUNT,
        description=text,
        quantity=1,
        unit_amount=value,
        tax_exempt=tax_exempt,
    )


def remove_line(line: EstimateLine, actor: User) -> None:
    """Take a line off the estimate; a part still only reserved goes back to the shelf."""
    request = db.session.get(ServiceRequest, line.service_request_id)
    _may_edit(request, actor)
    rest = [other for other in lines_for(request) if other.id != line.id]
    if totals.compute(rest).subtotal < 0:
        raise Conflict("Remove the discount first: without this line it would be negative.")
    reservation = line.request_part
    if reservation is not None and reservation.status == inventory.RESERVED:
        inventory.release_part(reservation, actor, note=f"{request.reference}: off the estimate")
    audit.record(
        actor,
        "estimate_line_removed",
        request,
        before={
            "kind": line.kind,
            "description": line.description,
            "amount": format_money(abs(line.net_amount)),
        },
    )
    db.session.delete(line)
    _changed(request)
    db.session.flush()


# ---------------------------------------------------------------- sending and deciding


def _summary(view: EstimateView) -> str:
    return ", ".join(line.description for line in view.totals.lines)[:1000]


def send_estimate(request: ServiceRequest, actor: User) -> int:
    """Send the estimate to the customer: the repair waits ``on_hold`` for their decision.
    Returns the version sent."""
    from ..workflow import can_move as workflow_can_move
    from ..workflow import move_status

    _may_edit(request, actor)
    view = staff_view(request)
    if not view.totals.lines:
        raise Conflict("Add at least one line before sending the estimate.")
    if request.quote_status == QUOTE_PENDING:
        raise Conflict("This estimate was already sent; the customer has not decided yet.")
    if request.quote_status == QUOTE_APPROVED:
        raise Conflict("The customer already approved this estimate; change a line first.")
    if view.totals.total <= 0 and not request.no_charge:
        raise Conflict(
            f"The estimate comes to {format_money(view.totals.total)}: add a line, or have an "
            "admin mark the repair no-charge."
        )
    if request.status != "on_hold" and not workflow_can_move(request.status, "on_hold"):
        raise Conflict(f"A repair that is {request.status} cannot wait for an estimate decision.")
    request.estimate_version += 1
    request.quote_status = QUOTE_PENDING
    request.quote_amount = view.totals.total
    request.quote_currency = view.totals.currency
    request.quote_details = _summary(view)
    request.quote_sent_at = utcnow()
    request.quote_decided_at = None
    total = format_money(view.totals.total, view.totals.currency)
    if request.status != "on_hold":
        move_status(
            request, "on_hold", actor, f"Estimate sent ({total}): waiting for your approval."
        )
    audit.record(
        actor,
        "estimate_sent",
        request,
        after={"version": request.estimate_version, "total": total, "lines": len(view.line_ids)},
    )
    db.session.flush()
    _tell_customer(request, view)
    return request.estimate_version


def _tell_customer(request: ServiceRequest, view: EstimateView) -> None:
    notifications.notify(
        request.customer,
        "quote_sent",
        dedup_key=f"quote:{request.id}:{request.estimate_version}",
        service_request=request,
        values={"totals": view.totals},
    )


def decide_estimate(
    request: ServiceRequest, *, approve: bool, actor: User, version: Optional[int] = None
) -> None:
    """The customer's decision on the estimate they were sent.

    Approve: its lines become the repair's charges and the repair goes (back) in progress.
    Decline: the repair is canceled, unless an earlier version was approved; then the work
    goes on as approved before. ``version`` (from the page the customer read) must still be
    the one waiting, so nobody approves lines they have not seen.
    """
    from ..workflow import can_move as workflow_can_move
    from ..workflow import move_status

    if request.quote_status != QUOTE_PENDING:
        raise Conflict("There is no estimate waiting for a decision on this repair.")
    if version is not None and version != request.estimate_version:
        raise Conflict("The estimate changed since you opened it: read the new one and decide.")
    view = staff_view(request)
    total = format_money(view.totals.total, view.totals.currency)
    approved_before = bool(charges_for(request))
    request.quote_decided_at = utcnow()
    if approve:
        request.quote_status = QUOTE_APPROVED
        _make_charges(request)
        if request.status == "on_hold":
            move_status(request, _after_approval(request), actor, f"Estimate approved ({total}).")
    else:
        request.quote_status = QUOTE_DECLINED
        if approved_before and workflow_can_move(request.status, "in_progress"):
            move_status(
                request,
                "in_progress",
                actor,
                "Revised estimate declined: the repair goes on as approved before.",
            )
        elif not approved_before and request.status not in CLOSED_STATUSES:
            move_status(
                request,
                "canceled",
                actor,
                "Estimate declined: your device is ready to be collected.",
            )
    audit.record(
        actor,
        "quote_approved" if approve else "quote_declined",
        request,
        after={
            "version": request.estimate_version,
            "total": total,
            "decided_at": request.quote_decided_at.isoformat(),
        },
    )


def _after_approval(request: ServiceRequest) -> str:
    """Where an approved repair goes from on hold: back to waiting for its drop-off when the
    estimate was sent before the device came in, else on with the work."""
    came_from = db.session.scalar(
        sa.select(StatusChange.from_status)
        .where(
            StatusChange.service_request_id == request.id,
            StatusChange.to_status == "on_hold",
        )
        .order_by(StatusChange.id.desc())
        .limit(1)
    )
    if came_from in ("pending", "scheduled") and request.checked_in_at is None:
        return came_from
    return "in_progress"


def _make_charges(request: ServiceRequest) -> None:
    """The approved lines replace the repair's charges (a snapshot of this version)."""
    db.session.execute(sa.delete(RepairCharge).where(RepairCharge.service_request_id == request.id))
    for line in lines_for(request):
        db.session.add(
            RepairCharge(
                service_request_id=request.id,
                estimate_version=request.estimate_version,
                kind=line.kind,
                part_id=line.part_id,
                request_part_id=line.request_part_id,
                description=line.description,
                quantity=line.quantity,
                minutes=line.minutes,
                unit_amount=line.unit_amount,
                net_amount=line.net_amount,
                tax_exempt=line.tax_exempt,
            )
        )
    db.session.flush()


def send_single_amount(request: ServiceRequest, *, amount: int, details: str, actor: User) -> int:
    """The one-amount quote of the back office's bulk action: an estimate of one fee line."""
    if lines_for(request):
        raise Conflict(
            f"{request.reference} has an itemised estimate: change and send it on its page."
        )
    add_fee_line(request, actor=actor, description=details, amount=amount)
    return send_estimate(request, actor)
