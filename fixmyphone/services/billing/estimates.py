"""Itemised estimates: staff build them line by line, the customer approves or declines.

The estimate's state lives in the repair's ``quote_*`` columns (a one-amount quote is an
estimate of one fee line): ``draft`` while staff change lines, ``pending`` once sent,
``approved`` or ``declined`` after the customer's decision. Any change to the lines after it
was sent or approved makes it a draft again, so the customer approves every version they pay
for; ``estimate_version`` counts the versions sent and a decision names the one it was made on.
On approval the lines are copied into the repair's charges (``RepairCharge``).

Building and reading here; sending the estimate and the customer's decision in ``approvals``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Optional

from flask import current_app

from ... import labels
from ...domain_errors import Conflict, Forbidden, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...loading import Rows
from ...models import (
    EstimateLine,
    LineKind,
    Part,
    QuoteStatus,
    RepairCharge,
    RepairStatus,
    RequestPartStatus,
    ServiceRequest,
    User,
)
from ...workflow import label
from .. import audit, inventory
from ..repairs import may_move
from . import totals
from .amounts import MAX_AMOUNT, is_amount

# Repairs that are finished or canceled: their estimate is history.
CLOSED_STATUSES = (RepairStatus.COMPLETED, RepairStatus.CANCELED, RepairStatus.CLOSED)


# From here the work is done and invoiced: the estimate no longer changes (labour can still be
# recorded; an admin corrects an invoice with a credit note).
LOCKED_STATUSES = (
    RepairStatus.PAYMENT_PENDING,
    RepairStatus.READY_FOR_PICKUP,
    RepairStatus.DISPATCHED,
    *CLOSED_STATUSES,
)


MAX_QUANTITY = 99


MAX_MINUTES = 100 * 60


MAX_LINES = 50


# ---------------------------------------------------------------- reading


def lines_for(request: ServiceRequest) -> list[EstimateLine]:
    """The estimate's lines, in the order they were added."""
    return _rows_of(EstimateLine, request)


def charges_for(request: ServiceRequest) -> list[RepairCharge]:
    """The approved estimate's lines (the repair's charges), in order."""
    return _rows_of(RepairCharge, request)


def line_rows(request: ServiceRequest) -> Rows:
    """``lines_for`` as a list to read with others (``loading.load_lists``)."""
    return Rows(EstimateLine, [EstimateLine.service_request_id == request.id], [EstimateLine.id])


def charge_rows(request: ServiceRequest) -> Rows:
    """``charges_for`` as a list to read with others (``loading.load_lists``)."""
    return Rows(RepairCharge, [RepairCharge.service_request_id == request.id], [RepairCharge.id])


def _rows_of(model: type[EstimateLine] | type[RepairCharge], request: ServiceRequest) -> list:
    """The repair's rows of ``model``, oldest first (none before the repair is saved)."""
    if request.id is None:
        return []
    rows = line_rows(request) if model is EstimateLine else charge_rows(request)
    return list(db.session.scalars(rows.select()))


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
        return self.status == QuoteStatus.PENDING and not self.showing_approved


def staff_view(request: ServiceRequest, lines: Optional[list[EstimateLine]] = None) -> EstimateView:
    """The estimate as staff build it: every line, whatever its state (``lines``: the
    estimate's lines when already read, else they are read here)."""
    lines = lines_for(request) if lines is None else lines
    return EstimateView(
        status=request.quote_status,
        status_label=labels.label(labels.QUOTE_STATE, request.quote_status),
        version=request.estimate_version,
        totals=totals.compute(lines, free=request.no_charge),
        sent_at=request.quote_sent_at,
        decided_at=request.quote_decided_at,
        line_ids=tuple(line.id for line in lines),
    )


def customer_view(
    request: ServiceRequest,
    lines: Optional[list[EstimateLine]] = None,
    charges: Optional[list[RepairCharge]] = None,
) -> Optional[EstimateView]:
    """The estimate as the customer sees it: what was sent to them; while a revision is being
    prepared, the version they approved before; None when there is nothing to show yet.
    ``lines`` and ``charges``: the repair's, when already read (else read here as needed)."""
    status = request.quote_status
    if status in (QuoteStatus.PENDING, QuoteStatus.APPROVED, QuoteStatus.DECLINED):
        view = staff_view(request, lines)
        view.status_label = labels.label(labels.QUOTE_STATE_FOR_CUSTOMER, status)
        return view
    if status == QuoteStatus.DRAFT:
        charges = charges_for(request) if charges is None else charges
        if charges:
            return EstimateView(
                status=QuoteStatus.APPROVED,
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


def check_editable(request: ServiceRequest, actor: User, *, adding: bool = False) -> None:
    """Refuse a change to the estimate by someone else than the assigned technician or an admin,
    once the work is done, or beyond the most lines an estimate has."""
    if actor is None or not actor.is_staff or not may_move(actor, request):
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
    if request.quote_status != QuoteStatus.DRAFT:
        request.quote_status = QuoteStatus.DRAFT


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
    if not is_amount(value) or value > MAX_AMOUNT:
        raise ValidationFailed(
            "Give a positive amount.", fields={field: ["Give a positive amount."]}
        )
    return int(value)


def _add(request: ServiceRequest, actor: User, **columns) -> EstimateLine:
    columns.setdefault("quantity", 1)
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
    check_editable(request, actor, adding=True)
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
        kind=LineKind.PART,
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
    check_editable(request, actor, adding=True)
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
        unit = int(current_app.config.get("LABOUR_RATE") or 0)
        if unit <= 0:
            raise Conflict("The shop has no hourly labour rate (LABOUR_RATE): give an amount.")
    else:
        unit = _amount(amount)
    return _add(
        request,
        actor,
        kind=LineKind.LABOUR,
        description=text,
        minutes=minutes,
        unit_amount=unit,
        tax_exempt=tax_exempt,
    )


def add_fee_line(
    request: ServiceRequest, *, actor: User, description: str, amount: int, tax_exempt: bool = False
) -> EstimateLine:
    """Another fee (diagnosis, data recovery, shipping) of a fixed amount."""
    return _add_fixed(request, actor, LineKind.FEE, description, amount, tax_exempt)


def add_discount_line(
    request: ServiceRequest, *, actor: User, description: str, amount: int, tax_exempt: bool = False
) -> EstimateLine:
    """A discount (taken off before tax); it cannot bring the estimate below zero."""
    return _add_fixed(request, actor, LineKind.DISCOUNT, description, amount, tax_exempt)


def _add_fixed(
    request: ServiceRequest, actor: User, kind: str, description: str, amount: int, tax_exempt: bool
) -> EstimateLine:
    check_editable(request, actor, adding=True)
    text = _description(description, "Discount" if kind == LineKind.DISCOUNT else "")
    value = _amount(amount)
    if kind == LineKind.DISCOUNT:
        before = totals.compute(lines_for(request))
        if value > before.subtotal:
            message = f"The discount is more than the estimate ({format_money(before.subtotal)})."
            raise ValidationFailed(message, fields={"amount": [message]})
    return _add(
        request, actor, kind=kind, description=text, unit_amount=value, tax_exempt=tax_exempt
    )


def remove_line(line: EstimateLine, actor: User) -> None:
    """Take a line off the estimate; a part still only reserved goes back to the shelf."""
    request = db.session.get(ServiceRequest, line.service_request_id)
    check_editable(request, actor)
    rest = [other for other in lines_for(request) if other.id != line.id]
    if totals.compute(rest).subtotal < 0:
        raise Conflict("Remove the discount first: without this line it would be negative.")
    reservation = line.request_part
    if reservation is not None and reservation.status == RequestPartStatus.RESERVED:
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
