"""Drop-off appointments and the repair's status: a drop-off only makes sense before the device
reaches the shop. ``drop_off_actions`` is the one place that says which appointment actions a
repair's status leaves open, for the customer's pages, the back-office calendar and the checks
in ``booking.book``/``reschedule``/``cancel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa

from ..domain_errors import Conflict
from ..extensions import db
from ..loading import Rows
from ..models import Appointment, AppointmentStatus, RepairStatus, ServiceRequest
from ..workflow import FINAL_STATUSES, is_legal_move, label


def scheduled_rows(request: ServiceRequest) -> Rows:
    """The request's scheduled appointments, as a list to read (``loading.load_lists``)."""
    return Rows(
        Appointment,
        [
            Appointment.service_request_id == request.id,
            Appointment.status == AppointmentStatus.SCHEDULED,
        ],
    )


def active_appointment(request: ServiceRequest) -> Optional[Appointment]:
    """The request's scheduled appointment, if any."""
    return db.session.scalar(scheduled_rows(request).select())


def active_appointments(requests) -> dict[int, Appointment]:
    """The scheduled appointment of each request that has one, in one query."""
    ids = [r.id for r in requests]
    if not ids:
        return {}
    rows = db.session.scalars(
        sa.select(Appointment).where(
            Appointment.service_request_id.in_(ids),
            Appointment.status == AppointmentStatus.SCHEDULED,
        )
    )
    return {a.service_request_id: a for a in rows}


# -- which appointment actions a repair's status leaves open

# Before the device reaches the shop (``checked_in_at`` is set when the repair first starts).
BEFORE_DROP_OFF = frozenset(
    {RepairStatus.PENDING, RepairStatus.SCHEDULED, RepairStatus.ON_HOLD, RepairStatus.DELAYED}
)
# Of those, the statuses a repair can be booked in from.
BOOKABLE_STATUSES = tuple(
    s
    for s in sorted(BEFORE_DROP_OFF)
    if s == RepairStatus.SCHEDULED or is_legal_move(s, RepairStatus.SCHEDULED)
)


@dataclass(frozen=True)
class DropOffActions:
    """What can be done about a repair's drop-off appointment now, and why not when nothing."""

    can_book: bool  # no appointment yet and the status lets the repair be booked in
    can_change: bool  # the scheduled appointment may be moved or canceled
    refusal: Optional[str]  # why booking, moving and canceling are closed (None when open)

    @property
    def expects_device(self) -> bool:
        """The customer still has to bring the device at the appointment time."""
        return self.can_change


def drop_off_refusal(request: ServiceRequest) -> Optional[str]:
    """Why no drop-off can be booked, moved or canceled for this repair now; None if it can."""
    if request.status in FINAL_STATUSES:
        return (
            f"{request.reference} is {label(request.status).lower()}: its drop-off "
            "appointment can no longer be booked, moved or canceled."
        )
    if request.checked_in_at is not None or request.status not in BEFORE_DROP_OFF:
        return (
            f"The device for {request.reference} is already in the shop: there is no "
            "drop-off appointment to book, move or cancel."
        )
    return None


def drop_off_actions(
    request: ServiceRequest, appointment: Optional[Appointment] = None
) -> DropOffActions:
    """The appointment actions open for ``request`` (with its scheduled ``appointment``)."""
    refusal = drop_off_refusal(request)
    scheduled = appointment is not None and appointment.status == AppointmentStatus.SCHEDULED
    if refusal is None and not scheduled and not is_bookable(request):
        refusal = not_bookable(request)
    return DropOffActions(
        can_book=refusal is None and not scheduled,
        can_change=refusal is None and scheduled,
        refusal=refusal,
    )


def is_bookable(request: ServiceRequest) -> bool:
    return request.status == RepairStatus.SCHEDULED or is_legal_move(
        request.status, RepairStatus.SCHEDULED
    )


def not_bookable(request: ServiceRequest) -> str:
    return f"A repair that is {label(request.status).lower()} cannot be booked in."


def bookable_clause() -> sa.ColumnElement[bool]:
    """``drop_off_actions(...).can_book`` as SQL, for lists of repairs to book in."""
    booked = sa.select(Appointment.service_request_id).where(
        Appointment.status == AppointmentStatus.SCHEDULED
    )
    return sa.and_(
        ServiceRequest.status.in_(BOOKABLE_STATUSES),
        ServiceRequest.checked_in_at.is_(None),
        ServiceRequest.id.not_in(booked),
    )


def drop_off_appointment(
    request: ServiceRequest, scheduled: Optional[list[Appointment]] = None
) -> Optional[Appointment]:
    """The scheduled appointment the customer still has to come to: None once the device is in
    the shop or the repair is finished (an old appointment left scheduled then means nothing).
    ``scheduled``: the request's scheduled appointments (``scheduled_rows``) when already read.
    """
    if drop_off_refusal(request) is not None:
        return None
    if scheduled is not None:
        return scheduled[0] if scheduled else None
    return active_appointment(request)


def check_drop_off_open(request: ServiceRequest) -> None:
    refusal = drop_off_refusal(request)
    if refusal is not None:
        raise Conflict(refusal)
