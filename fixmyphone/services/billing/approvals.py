"""Sending an estimate and the customer's decision on it.

Sent, the repair waits ``on_hold`` for the customer. Approved, the estimate's lines become the
repair's charges (``RepairCharge``, a snapshot of that version) and the repair goes on (or back
to waiting for its drop-off when the device is not in yet). Declined, the repair is canceled,
unless an earlier version was approved: then the work goes on as approved before.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa

from ...domain_errors import Conflict, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...models import (
    QuoteStatus,
    RepairCharge,
    RepairStatus,
    ServiceRequest,
    StatusChange,
    User,
    utcnow,
)
from ...workflow import is_legal_move, move_status
from .. import audit, notifications
from .amounts import is_amount
from .estimates import (
    CLOSED_STATUSES,
    EstimateView,
    add_fee_line,
    charges_for,
    check_editable,
    lines_for,
    staff_view,
)


def _summary(view: EstimateView) -> str:
    return ", ".join(line.description for line in view.totals.lines)[:1000]


def send_estimate(request: ServiceRequest, actor: User) -> int:
    """Send the estimate to the customer: the repair waits ``on_hold`` for their decision.
    Returns the version sent."""
    check_editable(request, actor)
    view = staff_view(request)
    if not view.totals.lines:
        raise Conflict("Add at least one line before sending the estimate.")
    if request.quote_status == QuoteStatus.PENDING:
        raise Conflict("This estimate was already sent; the customer has not decided yet.")
    if request.quote_status == QuoteStatus.APPROVED:
        raise Conflict("The customer already approved this estimate; change a line first.")
    if view.totals.total <= 0 and not request.no_charge:
        raise Conflict(
            f"The estimate comes to {format_money(view.totals.total)}: add a line, or have an "
            "admin mark the repair no-charge."
        )
    if request.status != RepairStatus.ON_HOLD and not is_legal_move(
        request.status, RepairStatus.ON_HOLD
    ):
        raise Conflict(f"A repair that is {request.status} cannot wait for an estimate decision.")
    request.estimate_version += 1
    request.quote_status = QuoteStatus.PENDING
    request.quote_amount = view.totals.total
    request.quote_currency = view.totals.currency
    request.quote_details = _summary(view)
    request.quote_sent_at = utcnow()
    request.quote_decided_at = None
    total = format_money(view.totals.total, view.totals.currency)
    if request.status != RepairStatus.ON_HOLD:
        move_status(
            request,
            RepairStatus.ON_HOLD,
            actor,
            f"Estimate sent ({total}): waiting for your approval.",
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
    if request.quote_status != QuoteStatus.PENDING:
        raise Conflict("There is no estimate waiting for a decision on this repair.")
    if version is not None and version != request.estimate_version:
        raise Conflict("The estimate changed since you opened it: read the new one and decide.")
    view = staff_view(request)
    total = format_money(view.totals.total, view.totals.currency)
    approved_before = bool(charges_for(request))
    request.quote_decided_at = utcnow()
    if approve:
        request.quote_status = QuoteStatus.APPROVED
        _make_charges(request)
        if request.status == RepairStatus.ON_HOLD:
            move_status(request, _after_approval(request), actor, f"Estimate approved ({total}).")
    else:
        request.quote_status = QuoteStatus.DECLINED
        if approved_before and is_legal_move(request.status, RepairStatus.IN_PROGRESS):
            move_status(
                request,
                RepairStatus.IN_PROGRESS,
                actor,
                "Revised estimate declined: the repair goes on as approved before.",
            )
        elif not approved_before and request.status not in CLOSED_STATUSES:
            move_status(
                request,
                RepairStatus.CANCELED,
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
            StatusChange.to_status == RepairStatus.ON_HOLD,
        )
        .order_by(StatusChange.id.desc())
        .limit(1)
    )
    if (
        came_from in (RepairStatus.PENDING, RepairStatus.SCHEDULED)
        and request.checked_in_at is None
    ):
        return came_from
    return RepairStatus.IN_PROGRESS


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
    """The one-amount quote of the back office's bulk action: an estimate of one fee line,
    sent; the repair waits ``on_hold`` until the customer decides. Returns the version sent."""
    if not is_amount(amount):
        raise ValidationFailed(
            "The quote must be a positive amount.", fields={"amount": ["Must be positive."]}
        )
    if not (details or "").strip():
        raise ValidationFailed("Say what the quote covers.", fields={"details": ["Required."]})
    if lines_for(request):
        raise Conflict(
            f"{request.reference} has an itemised estimate: change and send it on its page."
        )
    add_fee_line(request, actor=actor, description=details.strip(), amount=amount)
    return send_estimate(request, actor)
