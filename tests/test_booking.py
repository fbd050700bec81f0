"""The slot engine: free slots from opening hours, shifts, time off and bookings."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import Appointment, OpeningHours, Shift, ShopSettings, TimeOff
from fixmyphone.services import booking
from fixmyphone.services.errors import Conflict, Forbidden

from .factories import CustomerFactory, ServiceRequestFactory, TechnicianFactory, open_every_day

FUTURE = date.today() + timedelta(days=3)


def at(hour, minute=0, day=FUTURE):
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def shop(app):
    open_every_day(time(9), time(12))
    db.session.add(ShopSettings(slot_minutes=60, default_slot_capacity=2))
    db.session.commit()


def test_slots_follow_opening_hours_and_slot_length(shop):
    slots = booking.slots_for_day(FUTURE)
    assert [s.start for s in slots] == [at(9), at(10), at(11)]
    assert all(s.end - s.start == timedelta(hours=1) and s.capacity == 2 for s in slots)


def test_closed_days_have_no_slots(shop):
    db.session.merge(OpeningHours(weekday=FUTURE.weekday(), closed=True))
    assert booking.slots_for_day(FUTURE) == []


def test_shop_time_zone_is_respected(app, shop):
    app.config["SHOP_TIMEZONE"] = "America/New_York"
    first = booking.slots_for_day(FUTURE)[0]
    assert first.start.utcoffset() == timedelta(0)
    assert first.start.astimezone(booking.shop_tz()).time() == time(9)


def test_capacity_comes_from_technicians_on_shift_minus_time_off(shop):
    t1, t2 = TechnicianFactory(), TechnicianFactory()
    weekday = FUTURE.weekday()
    db.session.add_all(
        [
            Shift(technician_id=t1.id, weekday=weekday, starts_at=time(9), ends_at=time(12)),
            Shift(technician_id=t2.id, weekday=weekday, starts_at=time(10), ends_at=time(12)),
            TimeOff(technician_id=t1.id, starts=at(11), ends=at(12)),
        ]
    )
    db.session.commit()
    assert [s.capacity for s in booking.slots_for_day(FUTURE)] == [1, 2, 1]


def test_booking_takes_a_place_and_moves_the_request(shop):
    request = ServiceRequestFactory()
    appointment = booking.book(request, at(10), request.customer)
    db.session.commit()
    assert (appointment.start, appointment.end, appointment.seat, appointment.status) == (
        at(10),
        at(11),
        0,
        "scheduled",
    )
    assert request.status == "scheduled"
    slot = booking.slots_for_day(FUTURE)[1]
    assert (slot.booked, slot.free) == (1, 1)


def test_a_full_slot_refuses_more_bookings(shop):
    for _ in range(2):
        request = ServiceRequestFactory()
        booking.book(request, at(9), request.customer)
    db.session.commit()
    late = ServiceRequestFactory()
    with pytest.raises(Conflict, match="full"):
        booking.book(late, at(9), late.customer)
    assert late.status == "pending"
    assert not booking.is_bookable(booking.slots_for_day(FUTURE)[0])


@pytest.mark.parametrize(
    ("start", "message"),
    [
        (at(8), "outside opening hours"),
        (at(9, 30), "outside opening hours"),
        (at(12), "outside opening hours"),
        (at(10, day=date.today() - timedelta(days=1)), "past"),
    ],
)
def test_bad_times_are_refused(shop, start, message):
    request = ServiceRequestFactory()
    with pytest.raises(Conflict, match=message):
        booking.book(request, start, request.customer)


def test_the_seat_constraint_stops_overbooking_even_when_the_count_is_stale(shop, monkeypatch):
    for _ in range(2):
        request = ServiceRequestFactory()
        booking.book(request, at(11), request.customer)
    db.session.commit()
    # Pretend a racing customer read the slot before the others booked it.
    stale = booking.Slot(at(11), at(12), capacity=2, booked=0)
    monkeypatch.setattr(booking, "find_slot", lambda start: stale)
    request = ServiceRequestFactory()
    with pytest.raises(Conflict, match="just been fully booked"):
        booking.book(request, at(11), request.customer)
    db.session.rollback()
    assert db.session.query(Appointment).filter_by(start=at(11)).count() == 2


def test_reschedule_and_cancel_respect_the_cut_off(app, shop):
    request = ServiceRequestFactory()
    appointment = booking.book(request, at(9), request.customer)
    db.session.commit()
    booking.reschedule(appointment, at(10), request.customer)
    db.session.commit()
    assert appointment.start == at(10) and appointment.seat == 0
    assert booking.slots_for_day(FUTURE)[0].booked == 0
    app.config["BOOKING_CUTOFF_MINUTES"] = 10 * 24 * 60
    with pytest.raises(Forbidden, match="hours before"):
        booking.cancel(appointment, request.customer, "changed my mind")
    staff = TechnicianFactory()
    booking.cancel(appointment, staff, "customer called")
    db.session.commit()
    assert (appointment.status, appointment.seat, appointment.cancel_reason) == (
        "canceled",
        None,
        "customer called",
    )
    assert request.status == "on_hold"
    assert booking.slots_for_day(FUTURE)[1].booked == 0


def test_a_request_cannot_hold_two_appointments(shop):
    request = ServiceRequestFactory()
    booking.book(request, at(9), request.customer)
    with pytest.raises(Conflict, match="already has an appointment"):
        booking.book(request, at(10), request.customer)


def test_slot_range_uses_a_fixed_number_of_queries(app, shop):
    from sqlalchemy import event

    for hour in (9, 10):
        request = ServiceRequestFactory(customer=CustomerFactory())
        booking.book(request, at(hour), request.customer)
    db.session.commit()
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine, "before_cursor_execute", listener)
    try:
        result = booking.slots_for_range(FUTURE, 30)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(result) == 30
    assert len(statements) <= 6
