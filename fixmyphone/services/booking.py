"""Appointments: booking, moving and canceling drop-offs in the free slots.

Over-booking is prevented by the database: each booking takes a numbered seat in its slot and
(start, seat) is unique, so of two customers racing for the last seat exactly one insert wins.

Which appointment actions a repair's status leaves open is ``drop_off``'s to say; the slots
themselves come from ``slots``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from ..domain_errors import Conflict, DomainError, Forbidden, ValidationFailed
from ..extensions import db
from ..models import (
    Appointment,
    AppointmentStatus,
    RepairStatus,
    ServiceRequest,
    Shift,
    TimeOff,
    User,
    utcnow,
)
from ..workflow import move_status
from . import audit, notifications, reminders
from .drop_off import active_appointment, check_drop_off_open, is_bookable, not_bookable
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
        Appointment.status == AppointmentStatus.SCHEDULED,
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
    check_drop_off_open(request)
    if active_appointment(request) is not None:
        raise Conflict("This repair already has an appointment; reschedule it instead.")
    if not is_bookable(request):
        raise Conflict(not_bookable(request))
    slot = _check_slot(start)
    if technician is not None:
        _check_technician(technician, slot, None)
    appointment = Appointment(
        service_request_id=request.id,
        customer_id=request.customer_id,
        technician_id=technician.id if technician is not None else None,
        start=slot.start,
        end=slot.end,
        status=AppointmentStatus.SCHEDULED,
    )
    _take_seat(appointment, slot)
    if request.status != RepairStatus.SCHEDULED:
        move_status(
            request, RepairStatus.SCHEDULED, actor, f"Drop-off booked for {_local(slot.start)}"
        )
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
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise Conflict("Only a scheduled appointment can be moved.")
    check_drop_off_open(appointment.service_request)
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
    if appointment.status != AppointmentStatus.SCHEDULED:
        raise Conflict("This appointment is not scheduled.")
    check_drop_off_open(appointment.service_request)
    _check_cutoff(appointment, actor)
    _close(appointment, AppointmentStatus.CANCELED, reason)
    request = appointment.service_request
    if request.status == RepairStatus.SCHEDULED:
        move_status(request, RepairStatus.ON_HOLD, actor, "Appointment canceled", notify=False)
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
    if target not in (RepairStatus.IN_PROGRESS, RepairStatus.CANCELED):
        return
    appointment = active_appointment(request) if request.id is not None else None
    if appointment is None:
        return
    if target == RepairStatus.CANCELED:
        _close(appointment, AppointmentStatus.CANCELED, "The repair was canceled.")
        audit.record(actor, "appointment_canceled", appointment, after={"reason": "repair"})
    elif first_check_in:
        _close(appointment, AppointmentStatus.COMPLETED)
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
