"""The slot engine and appointments: free slots from opening hours, shifts and bookings.

Over-booking is prevented by the database: each booking takes a numbered seat in its slot and
(start, seat) is unique, so of two customers racing for the last seat exactly one insert wins.

A drop-off appointment only makes sense before the device reaches the shop: ``drop_off_actions``
is the one place that says which appointment actions a repair's status leaves open, for the
customer's pages, the back-office calendar and the checks in ``book``/``reschedule``/``cancel``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..extensions import db
from ..models import (
    APPOINTMENT_CANCELED,
    APPOINTMENT_COMPLETED,
    APPOINTMENT_NO_SHOW,
    APPOINTMENT_SCHEDULED,
    Appointment,
    ServiceRequest,
    Shift,
    TimeOff,
    User,
    utcnow,
)
from ..workflow import FINAL_STATUSES, can_move, label, move_status
from . import audit, notifications, reminders
from .errors import Conflict, DomainError, Forbidden, ValidationFailed
from .slots import Slot, find_slot, on_duty, shop_tz


def _take_seat(appointment: Appointment, slot: Slot) -> None:
    """Insert the appointment on the lowest free seat; the unique index arbitrates races."""
    for seat in range(slot.capacity):
        appointment.seat = seat
        try:
            with db.session.begin_nested():
                db.session.add(appointment)
                db.session.flush()
            return
        except IntegrityError:
            continue
    raise Conflict("That slot has just been fully booked; please choose another time.")


def _check_slot(start: datetime) -> Slot:
    if start.tzinfo is None:
        raise ValidationFailed(
            "Give the start time with its UTC offset.", {"start": ["Missing offset."]}
        )
    slot = find_slot(start)
    if slot is None:
        raise Conflict("That time is outside opening hours or not the start of a slot.")
    if slot.start <= utcnow():
        raise Conflict("That slot is in the past.")
    if slot.free <= 0:
        raise Conflict("That slot is full; please choose another time.")
    return slot


def active_appointment(request: ServiceRequest) -> Optional[Appointment]:
    """The request's scheduled appointment, if any."""
    return db.session.scalar(
        sa.select(Appointment).where(
            Appointment.service_request_id == request.id,
            Appointment.status == APPOINTMENT_SCHEDULED,
        )
    )


def active_appointments(requests) -> dict[int, Appointment]:
    """The scheduled appointment of each request that has one, in one query."""
    ids = [r.id for r in requests]
    if not ids:
        return {}
    rows = db.session.scalars(
        sa.select(Appointment).where(
            Appointment.service_request_id.in_(ids),
            Appointment.status == APPOINTMENT_SCHEDULED,
        )
    )
    return {a.service_request_id: a for a in rows}


# -- which appointment actions a repair's status leaves open

# Before the device reaches the shop (``checked_in_at`` is set when the repair first starts).
BEFORE_DROP_OFF = frozenset({"pending", "scheduled", "on_hold", "delayed"})
# Of those, the statuses a repair can be booked in from.
BOOKABLE_STATUSES = tuple(
    s for s in sorted(BEFORE_DROP_OFF) if s == "scheduled" or can_move(s, "scheduled")
)
# An appointment's states in words.
APPOINTMENT_LABELS = {
    APPOINTMENT_SCHEDULED: "Scheduled",
    APPOINTMENT_COMPLETED: "Device received",
    APPOINTMENT_CANCELED: "Canceled",
    APPOINTMENT_NO_SHOW: "No show",
}


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
    scheduled = appointment is not None and appointment.status == APPOINTMENT_SCHEDULED
    if refusal is None and not scheduled and not _bookable(request):
        refusal = _not_bookable(request)
    return DropOffActions(
        can_book=refusal is None and not scheduled,
        can_change=refusal is None and scheduled,
        refusal=refusal,
    )


def _bookable(request: ServiceRequest) -> bool:
    return request.status == "scheduled" or can_move(request.status, "scheduled")


def _not_bookable(request: ServiceRequest) -> str:
    return f"A repair that is {label(request.status).lower()} cannot be booked in."


def bookable_clause() -> sa.ColumnElement[bool]:
    """``drop_off_actions(...).can_book`` as SQL, for lists of repairs to book in."""
    booked = sa.select(Appointment.service_request_id).where(
        Appointment.status == APPOINTMENT_SCHEDULED
    )
    return sa.and_(
        ServiceRequest.status.in_(BOOKABLE_STATUSES),
        ServiceRequest.checked_in_at.is_(None),
        ServiceRequest.id.not_in(booked),
    )


def drop_off_appointment(request: ServiceRequest) -> Optional[Appointment]:
    """The scheduled appointment the customer still has to come to: None once the device is in
    the shop or the repair is finished (an old appointment left scheduled then means nothing)."""
    if drop_off_refusal(request) is not None:
        return None
    return active_appointment(request)


def _check_drop_off_open(request: ServiceRequest) -> None:
    refusal = drop_off_refusal(request)
    if refusal is not None:
        raise Conflict(refusal)


# -- who takes the device in


class _Keep:
    """Marker: leave the appointment's technician as it is."""


KEEP = _Keep()


def _check_technician(technician: User, slot: Slot, appointment: Optional[Appointment]) -> None:
    """The technician exists as such, is on shift for the slot and free in it."""
    name = technician.full_name
    if not technician.active or technician.technician_profile is None:
        raise ValidationFailed(
            f"{name} is not an active technician.", {"technician_id": ["Not a technician."]}
        )
    tz = shop_tz()
    local_start, local_end = slot.start.astimezone(tz), slot.end.astimezone(tz)
    any_shift = db.session.scalar(sa.select(Shift.id).limit(1)) is not None
    if any_shift:
        shifts: dict[int, list] = {}
        for row in db.session.execute(
            sa.select(Shift.technician_id, Shift.weekday, Shift.starts_at, Shift.ends_at).where(
                Shift.technician_id == technician.id
            )
        ):
            shifts.setdefault(row.weekday, []).append(
                (row.technician_id, row.starts_at, row.ends_at)
            )
        time_off = db.session.execute(
            sa.select(TimeOff.technician_id, TimeOff.starts, TimeOff.ends).where(
                TimeOff.technician_id == technician.id,
                TimeOff.ends > slot.start,
                TimeOff.starts < slot.end,
            )
        ).all()
        if technician.id not in on_duty(
            local_start, local_end, slot.start, slot.end, shifts, time_off
        ):
            raise Conflict(f"{name} is not on shift at {_local(slot.start)}.")
    taken = sa.select(Appointment.id).where(
        Appointment.technician_id == technician.id,
        Appointment.status == APPOINTMENT_SCHEDULED,
        Appointment.start == slot.start,
    )
    if appointment is not None and appointment.id is not None:
        taken = taken.where(Appointment.id != appointment.id)
    if db.session.scalar(taken.limit(1)) is not None:
        raise Conflict(f"{name} already takes a drop-off at {_local(slot.start)}.")


def book(
    request: ServiceRequest, start: datetime, actor: User, technician: Optional[User] = None
) -> Appointment:
    """Book a drop-off slot for a request (optionally with the technician who takes the device
    in) and move the request to ``scheduled``."""
    _check_drop_off_open(request)
    if active_appointment(request) is not None:
        raise Conflict("This repair already has an appointment; reschedule it instead.")
    if not _bookable(request):
        raise Conflict(_not_bookable(request))
    slot = _check_slot(start)
    if technician is not None:
        _check_technician(technician, slot, None)
    appointment = Appointment(
        service_request_id=request.id,
        customer_id=request.customer_id,
        technician_id=technician.id if technician is not None else None,
        start=slot.start,
        end=slot.end,
        status=APPOINTMENT_SCHEDULED,
    )
    _take_seat(appointment, slot)
    if request.status != "scheduled":
        move_status(request, "scheduled", actor, f"Drop-off booked for {_local(slot.start)}")
    audit.record(
        actor,
        "appointment_booked",
        appointment,
        after={"start": slot.start.isoformat(), "technician_id": appointment.technician_id},
    )
    _notify(appointment, "appointment_booked", _local(slot.start))
    reminders.appointment_changed(appointment)
    return appointment


def cutoff() -> timedelta:
    """How long before an appointment customers may still move or cancel it."""
    return timedelta(minutes=current_app.config["BOOKING_CUTOFF_MINUTES"])


def cutoff_text() -> str:
    """The cut-off in words: '2 hours', '90 minutes'."""
    minutes = current_app.config["BOOKING_CUTOFF_MINUTES"]
    if minutes % 60 == 0:
        hours = minutes // 60
        return f"{hours} hour{'s' if hours != 1 else ''}"
    return f"{minutes} minutes"


def change_deadline(appointment: Optional[Appointment]) -> Optional[datetime]:
    """The last moment the customer may move or cancel ``appointment`` online."""
    if appointment is None:
        return None
    return appointment.start - cutoff()


def _check_cutoff(appointment: Appointment, actor: User) -> None:
    if actor.is_staff:
        return
    if utcnow() > change_deadline(appointment):
        raise Forbidden(
            f"Appointments can be changed up to {cutoff_text()} before; please call the shop."
        )


def reschedule(
    appointment: Appointment,
    start: datetime,
    actor: User,
    technician: Optional[User] | _Keep = KEEP,
) -> Appointment:
    """Move an appointment to another free slot (same no-overbooking guarantee), and/or hand it
    to another technician (``None`` leaves it unassigned, ``KEEP`` keeps the current one)."""
    if appointment.status != APPOINTMENT_SCHEDULED:
        raise Conflict("Only a scheduled appointment can be moved.")
    _check_drop_off_open(appointment.service_request)
    _check_cutoff(appointment, actor)
    old_start, old_technician = appointment.start, appointment.technician_id
    keeping = technician is KEEP
    if not keeping and not actor.is_staff:
        raise Forbidden("Only the shop chooses who takes the device in.")
    same_slot = start.tzinfo is not None and start.astimezone(UTC) == appointment.start
    if same_slot:
        slot = find_slot(start)
        if slot is None:
            raise Conflict("That time is outside opening hours or not the start of a slot.")
    else:
        slot = _check_slot(start)
    if keeping:
        technician = appointment.technician
    if technician is not None:
        try:
            _check_technician(technician, slot, appointment)
        except DomainError:
            if not (keeping and not actor.is_staff):
                raise
            # A customer moving their own drop-off: the shop reassigns it if need be.
            technician = None
    new_technician = technician.id if technician is not None else None
    if same_slot and new_technician == old_technician:
        return appointment
    if not same_slot:
        appointment.seat = None
        db.session.flush()
        appointment.start, appointment.end = slot.start, slot.end
        _take_seat(appointment, slot)
    appointment.technician_id = new_technician
    audit.record(
        actor,
        "appointment_rescheduled",
        appointment,
        before={"start": old_start.isoformat(), "technician_id": old_technician},
        after={"start": slot.start.isoformat(), "technician_id": new_technician},
    )
    if not same_slot:
        _notify(appointment, f"appointment_moved:{slot.start.isoformat()}", _local(slot.start))
        reminders.appointment_changed(appointment)
    return appointment


def cancel(appointment: Appointment, actor: User, reason: Optional[str] = None) -> Appointment:
    """Cancel an appointment, free its seat, and put the repair on hold until rebooked."""
    if appointment.status != APPOINTMENT_SCHEDULED:
        raise Conflict("This appointment is not scheduled.")
    _check_drop_off_open(appointment.service_request)
    _check_cutoff(appointment, actor)
    _close(appointment, APPOINTMENT_CANCELED, reason)
    request = appointment.service_request
    if request.status == "scheduled":
        move_status(request, "on_hold", actor, "Appointment canceled", notify=False)
    audit.record(actor, "appointment_canceled", appointment, after={"reason": reason})
    _notify(appointment, "appointment_canceled")
    return appointment


def _close(appointment: Appointment, status: str, reason: Optional[str] = None) -> None:
    """End a scheduled appointment and free its seat (its reminders are dropped)."""
    appointment.status = status
    appointment.seat = None
    appointment.cancel_reason = (reason or "").strip()[:300] or None
    reminders.appointment_changed(appointment)


def on_repair_moved(
    request: ServiceRequest,
    *,
    target: str,
    actor: Optional[User],
    first_check_in: bool,
    **_: object,
) -> None:
    """Once the device is checked in the drop-off took place (the appointment is completed);
    when the repair is canceled its appointment is too. Either way the seat is freed, so a
    device brought in early does not keep a place in a later slot."""
    if target not in ("in_progress", "canceled"):
        return
    appointment = active_appointment(request) if request.id is not None else None
    if appointment is None:
        return
    if target == "canceled":
        _close(appointment, APPOINTMENT_CANCELED, "The repair was canceled.")
        audit.record(actor, "appointment_canceled", appointment, after={"reason": "repair"})
    elif first_check_in:
        _close(appointment, APPOINTMENT_COMPLETED)
        audit.record(actor, "appointment_completed", appointment, after={"checked_in": True})


def _local(moment: datetime) -> str:
    return moment.astimezone(shop_tz()).strftime("%a %d %b %Y, %H:%M")


def _notify(appointment: Appointment, event: str, when: Optional[str] = None) -> None:
    """Tell the customer (``when``: the appointment's new time, in words)."""
    request = appointment.service_request
    db.session.flush()
    notifications.notify(
        request.customer,
        event.split(":")[0],
        values={"when": when},
        dedup_key=f"{event}:{appointment.id}:{appointment.updated_at.isoformat() if appointment.updated_at else ''}",
        service_request=request,
    )
