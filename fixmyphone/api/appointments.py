"""Drop-off appointments: free slots, booking, rescheduling, cancelling."""

from __future__ import annotations

from datetime import date

from ..domain_errors import Forbidden, NotFound
from ..extensions import db
from ..models import Appointment
from ..services import booking, repairs
from ..services.slots import is_bookable, slots_for_day
from .base import Blueprint, caller
from .repairs import appointment_body
from .schemas import (
    AppointmentCancelSchema,
    AppointmentCreateSchema,
    AppointmentMoveSchema,
    AppointmentSchema,
    SlotDaySchema,
    SlotQuerySchema,
)

blp = Blueprint("api-appointments", __name__, url_prefix="/api", description="Appointments.")

APPOINTMENT_ID = "<id:appointment_id>"
# Days whose slots cannot be expressed as datetimes in every time zone have none.
FIRST_DAY, LAST_DAY = date(1, 1, 3), date(9999, 12, 29)


@blp.route("/appointment/slots", methods=["GET"])
@blp.arguments(SlotQuerySchema, location="query")
@blp.response(200, SlotDaySchema)
def slots(args):
    """The drop-off slots of a day and whether each can still be booked (no login needed)."""
    day = args["date"]
    found = slots_for_day(day) if FIRST_DAY <= day <= LAST_DAY else []
    return {
        "date": day,
        "slots": [{"start": s.start, "end": s.end, "available": is_bookable(s)} for s in found],
    }


def appointment_for(appointment_id: int) -> Appointment:
    """An appointment of a request the caller may see; else 404."""
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None:
        raise NotFound("No such appointment.")
    try:
        repairs.get_for(caller(), appointment.service_request_id)
    except NotFound:
        raise NotFound("No such appointment.") from None
    return appointment


@blp.route("/appointment", methods=["POST"])
@blp.authenticated
@blp.arguments(AppointmentCreateSchema)
@blp.response(201, AppointmentSchema)
@blp.errors(400, 403, 404, 409, 413)
def book(args):
    """Book a slot for one of your repairs (customers); the repair moves to `scheduled`.

    A full or past slot, or a time outside opening hours, answers 409; of two clients racing
    for the last place exactly one wins. Staff book from the back office (403 here).
    """
    me = caller()
    if me.is_staff:
        raise Forbidden("Appointments are booked by customers; staff book in the back office.")
    request = repairs.get_for(me, args["service_request_id"])
    appointment = booking.book(request, args["start"], me)
    db.session.commit()
    return appointment_body(appointment)


@blp.route(f"/appointment/{APPOINTMENT_ID}", methods=["PUT"])
@blp.authenticated
@blp.arguments(AppointmentMoveSchema)
@blp.response(200, AppointmentSchema)
@blp.errors(400, 403, 404, 409, 413)
def reschedule(args, appointment_id):
    """Move an appointment to another free slot (customers: not within the cut-off)."""
    appointment = booking.reschedule(appointment_for(appointment_id), args["start"], caller())
    db.session.commit()
    return appointment_body(appointment)


@blp.route(f"/appointment/{APPOINTMENT_ID}", methods=["DELETE"])
@blp.authenticated
@blp.arguments(AppointmentCancelSchema, required=False)
@blp.response(200, AppointmentSchema)
@blp.errors(400, 403, 404, 409, 413)
def cancel(args, appointment_id):
    """Cancel an appointment, optionally saying why; the repair waits on hold until rebooked."""
    appointment = booking.cancel(appointment_for(appointment_id), caller(), args.get("reason"))
    db.session.commit()
    return appointment_body(appointment)
