"""The repair status machine: the one place that knows which move is legal."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Optional

import sqlalchemy as sa

from . import labels, signals
from .domain_errors import Conflict
from .extensions import db
from .models import RepairStatus, ServiceRequest, StatusChange, User, utcnow

# The statuses in the API contract's order, with their words (labels.py holds the words).
STATUSES: Mapping[str, str] = labels.STATUS_WORDS

TRANSITIONS: dict[str, tuple[str, ...]] = {
    RepairStatus.PENDING: (
        RepairStatus.SCHEDULED,
        RepairStatus.IN_PROGRESS,
        RepairStatus.ON_HOLD,
        RepairStatus.CANCELED,
    ),
    RepairStatus.SCHEDULED: (
        RepairStatus.IN_PROGRESS,
        RepairStatus.DELAYED,
        RepairStatus.ON_HOLD,
        RepairStatus.CANCELED,
    ),
    RepairStatus.IN_PROGRESS: (
        RepairStatus.AWAITING_PARTS,
        RepairStatus.ON_HOLD,
        RepairStatus.DELAYED,
        RepairStatus.QUALITY_CHECK,
        RepairStatus.CANCELED,
    ),
    RepairStatus.AWAITING_PARTS: (
        RepairStatus.IN_PROGRESS,
        RepairStatus.DELAYED,
        RepairStatus.ON_HOLD,
        RepairStatus.CANCELED,
    ),
    RepairStatus.ON_HOLD: (
        RepairStatus.PENDING,
        RepairStatus.SCHEDULED,
        RepairStatus.IN_PROGRESS,
        RepairStatus.CANCELED,
    ),
    RepairStatus.DELAYED: (
        RepairStatus.IN_PROGRESS,
        RepairStatus.AWAITING_PARTS,
        RepairStatus.ON_HOLD,
        RepairStatus.CANCELED,
    ),
    RepairStatus.QUALITY_CHECK: (
        RepairStatus.IN_PROGRESS,
        RepairStatus.PAYMENT_PENDING,
        RepairStatus.READY_FOR_PICKUP,
        RepairStatus.DISPATCHED,
    ),
    RepairStatus.PAYMENT_PENDING: (
        RepairStatus.READY_FOR_PICKUP,
        RepairStatus.DISPATCHED,
        RepairStatus.ON_HOLD,
        RepairStatus.CANCELED,
    ),
    RepairStatus.READY_FOR_PICKUP: (RepairStatus.COMPLETED,),
    RepairStatus.DISPATCHED: (RepairStatus.COMPLETED,),
    RepairStatus.COMPLETED: (RepairStatus.CLOSED,),
    RepairStatus.CANCELED: (RepairStatus.CLOSED,),
    RepairStatus.CLOSED: (),
}

INITIAL_STATUS = RepairStatus.PENDING
# Statuses where the repair is finished from the shop's point of view.
FINAL_STATUSES = frozenset({RepairStatus.COMPLETED, RepairStatus.CANCELED, RepairStatus.CLOSED})
OPEN_STATUSES = frozenset(STATUSES) - FINAL_STATUSES


class IllegalTransition(Conflict):
    """The workflow does not allow this move."""


class UnpaidBalance(Conflict):
    """A repair with money still owed cannot be completed."""


def label(status: str) -> str:
    """The human label of a status key (``labels.label``)."""
    return labels.label(labels.STATUS, status)


def allowed_moves(status: str) -> tuple[str, ...]:
    """The statuses a request in ``status`` may move to."""
    return TRANSITIONS.get(status, ())


def is_legal_move(current: str, target: str) -> bool:
    """Is ``current`` → ``target`` a legal move? (Who may move is ``repairs.may_move``.)"""
    return target in allowed_moves(current)


def check_move(request: ServiceRequest, target: str) -> None:
    """Raise unless ``request`` may move to ``target`` now (including the unpaid-balance rule)."""
    if target not in STATUSES:
        raise IllegalTransition(f"Unknown status '{target}'.")
    if not is_legal_move(request.status, target):
        allowed = allowed_moves(request.status)
        nexts = ", ".join(allowed) if allowed else "none"
        raise IllegalTransition(
            f"Cannot move {request.reference} from {request.status} to {target}; "
            f"allowed next statuses: {nexts}."
        )
    # Other rules may refuse it (billing: completed means paid) by raising a Conflict.
    signals.move_requested.send(request, target=target)


def record_initial(request: ServiceRequest, actor: Optional[User], note: Optional[str] = None):
    """Record the first history entry (``pending``) of a new request."""
    request.status = INITIAL_STATUS
    entry = StatusChange(
        service_request=request, from_status=None, to_status=INITIAL_STATUS, actor=actor, note=note
    )
    db.session.add(entry)
    return entry


class ConcurrentMove(Conflict):
    """Someone else moved the request between our read and our write."""


def _claim_move(request: ServiceRequest, previous: str, target: str) -> None:
    """Write the new status only if it is still ``previous`` (compare-and-set).

    Two staff (or two web processes) moving the same request at once both pass the check above
    with the status they read; the conditional UPDATE lets exactly one of them win, on SQLite
    and PostgreSQL alike (the loser's UPDATE matches no row once the winner has committed).
    """
    if request.id is None:
        return
    db.session.flush()
    result = db.session.execute(
        sa.update(ServiceRequest)
        .where(ServiceRequest.id == request.id, ServiceRequest.status == previous)
        .values(status=target)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.refresh(request)
        raise ConcurrentMove(
            f"{request.reference} was just moved to {request.status} by someone else; "
            "reload and try again."
        )


def move_status(
    request: ServiceRequest,
    target: str,
    actor: Optional[User],
    note: Optional[str] = None,
    *,
    estimated_completion: Optional[datetime] = None,
    public: bool = True,
    notify: bool = True,
) -> StatusChange:
    """Move a request: check the move, record it in the history, announce it.

    What else a move sets off (the drop-off appointment, the invoice, the warranty, reserved
    stock, the audit entry, the customer's notice) subscribes to ``signals.repair_moved``.
    Stages the changes in the session; the caller commits.
    """
    check_move(request, target)
    previous = request.status
    now = utcnow()
    _claim_move(request, previous, target)
    first_check_in = target == RepairStatus.IN_PROGRESS and request.checked_in_at is None
    request.status = target
    if estimated_completion is not None:
        request.estimated_completion = estimated_completion
    if first_check_in:
        request.checked_in_at = now
    if (
        target in (RepairStatus.READY_FOR_PICKUP, RepairStatus.DISPATCHED)
        and request.ready_at is None
    ):
        request.ready_at = now
    if target == RepairStatus.COMPLETED:
        request.completed_at = now
    if target in (RepairStatus.COMPLETED, RepairStatus.CANCELED):
        # A device passcode is only kept while the repair needs it.
        request.passcode_encrypted = None
    entry = StatusChange(
        service_request=request,
        from_status=previous,
        to_status=target,
        actor=actor,
        note=(note or None),
        is_public=public,
        created_at=now,
    )
    db.session.add(entry)
    signals.repair_moved.send(
        request,
        actor=actor,
        previous=previous,
        target=target,
        entry=entry,
        note=note,
        when=now,
        first_check_in=first_check_in,
        notify=notify,
    )
    return entry
