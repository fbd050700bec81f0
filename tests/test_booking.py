"""The slot engine: free slots from opening hours, shifts, time off and bookings."""

from datetime import UTC, date, datetime, time, timedelta

import pytest

from fixmyphone.domain_errors import Conflict, Forbidden, ValidationFailed
from fixmyphone.extensions import db
from fixmyphone.models import Appointment, OpeningHours, Shift, ShopSettings, TimeOff
from fixmyphone.services import booking, drop_off
from fixmyphone.services import slots as slot_engine
from fixmyphone.workflow import move_status

from .conftest import count_rows
from .factories import (
    CustomerFactory,
    ServiceRequestFactory,
    TechnicianFactory,
    UserFactory,
    open_every_day,
)

FUTURE = date.today() + timedelta(days=3)


def at(hour, minute=0, day=FUTURE):
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def shop(app):
    open_every_day(time(9), time(12))
    db.session.add(ShopSettings(slot_minutes=60, default_slot_capacity=2))
    db.session.commit()


def test_slots_follow_opening_hours_and_slot_length(shop):
    slots = slot_engine.slots_for_day(FUTURE)
    assert [s.start for s in slots] == [at(9), at(10), at(11)]
    assert all(s.end - s.start == timedelta(hours=1) and s.capacity == 2 for s in slots)


def test_closed_days_have_no_slots(shop):
    db.session.merge(OpeningHours(weekday=FUTURE.weekday(), closed=True))
    assert slot_engine.slots_for_day(FUTURE) == []


def test_shop_time_zone_is_respected(app, shop):
    app.config["SHOP_TIMEZONE"] = "America/New_York"
    first = slot_engine.slots_for_day(FUTURE)[0]
    assert first.start.utcoffset() == timedelta(0)
    assert first.start.astimezone(slot_engine.shop_tz()).time() == time(9)


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
    assert [s.capacity for s in slot_engine.slots_for_day(FUTURE)] == [1, 2, 1]


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
    slot = slot_engine.slots_for_day(FUTURE)[1]
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
    assert not slot_engine.is_bookable(slot_engine.slots_for_day(FUTURE)[0])


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
    stale = slot_engine.Slot(at(11), at(12), capacity=2, booked=0)
    monkeypatch.setattr(booking, "find_slot", lambda start: stale)
    request = ServiceRequestFactory()
    with pytest.raises(Conflict, match="just been fully booked"):
        booking.book(request, at(11), request.customer)
    db.session.rollback()
    assert count_rows(Appointment, Appointment.start == at(11)) == 2


def test_reschedule_and_cancel_respect_the_cut_off(app, shop):
    request = ServiceRequestFactory()
    appointment = booking.book(request, at(9), request.customer)
    db.session.commit()
    booking.reschedule(appointment, at(10), request.customer)
    db.session.commit()
    assert appointment.start == at(10) and appointment.seat == 0
    assert slot_engine.slots_for_day(FUTURE)[0].booked == 0
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
    assert slot_engine.slots_for_day(FUTURE)[1].booked == 0


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
        result = slot_engine.slots_for_range(FUTURE, 30)
    finally:
        event.remove(db.engine, "before_cursor_execute", listener)
    assert len(result) == 30
    assert len(statements) <= 6


# ---------------------------------------------------------------- which drop-off actions are open


@pytest.mark.parametrize(
    ("status", "checked_in", "can_book", "refusal"),
    [
        ("pending", False, True, None),
        ("on_hold", False, True, None),
        ("delayed", False, False, "cannot be booked in"),
        ("on_hold", True, False, "already in the shop"),
        ("in_progress", True, False, "already in the shop"),
        ("awaiting_parts", True, False, "already in the shop"),
        ("ready_for_pickup", True, False, "already in the shop"),
        ("completed", True, False, "is completed"),
        ("canceled", False, False, "is canceled"),
        ("closed", True, False, "is closed"),
    ],
)
def test_drop_off_actions_follow_the_status(app, status, checked_in, can_book, refusal):
    request = ServiceRequestFactory(status=status)
    if checked_in:
        request.checked_in_at = datetime.now(UTC)
    actions = drop_off.drop_off_actions(request, None)
    assert (actions.can_book, actions.can_change) == (can_book, False)
    if refusal is None:
        assert actions.refusal is None
    else:
        assert refusal in actions.refusal


def _stale_appointment(status: str, **changes) -> Appointment:
    """A repair booked in, then moved on (directly, as old data may be) to ``status``."""
    request = ServiceRequestFactory()
    appointment = booking.book(request, at(10), request.customer)
    db.session.commit()
    request.status = status
    for key, value in changes.items():
        setattr(request, key, value)
    db.session.commit()
    return appointment


@pytest.mark.parametrize(
    ("status", "changes", "message"),
    [
        ("in_progress", {"checked_in_at": datetime(2026, 1, 1, tzinfo=UTC)}, "already in the shop"),
        ("quality_check", {}, "already in the shop"),
        ("completed", {}, "is completed"),
        ("closed", {}, "is closed"),
        ("canceled", {}, "is canceled"),
    ],
)
def test_no_move_or_cancel_once_the_device_is_in_or_the_repair_is_over(
    shop, status, changes, message
):
    appointment = _stale_appointment(status, **changes)
    request = appointment.service_request
    staff = UserFactory(role="admin")
    assert drop_off.drop_off_actions(request, appointment).can_change is False
    assert drop_off.drop_off_appointment(request) is None
    for actor in (request.customer, staff):
        with pytest.raises(Conflict, match=message):
            booking.reschedule(appointment, at(11), actor)
        with pytest.raises(Conflict, match=message):
            booking.cancel(appointment, actor, "no longer needed")
    db.session.rollback()
    assert (appointment.start, appointment.status) == (at(10), "scheduled")
    other = ServiceRequestFactory(status=status, **changes)
    with pytest.raises(Conflict, match=message):
        booking.book(other, at(11), other.customer)


def test_check_in_completes_the_appointment_and_cancel_cancels_it(shop):
    first = _stale_appointment("scheduled")
    second = booking.book(ServiceRequestFactory(), at(10), UserFactory(role="admin"))
    db.session.commit()
    tech = TechnicianFactory()
    move_status(first.service_request, "in_progress", tech)
    move_status(second.service_request, "canceled", tech, "Customer withdrew")
    db.session.commit()
    assert (first.status, first.seat) == ("completed", None)
    assert (second.status, second.seat, second.cancel_reason) == (
        "canceled",
        None,
        "The repair was canceled.",
    )
    assert first.service_request.checked_in_at is not None
    # Both places in the 10:00 slot are free again.
    assert slot_engine.find_slot(at(10)).free == 2


# ---------------------------------------------------------------- who takes the device in


@pytest.fixture
def shifts(shop):
    """Sam works 9-12 on FUTURE's weekday, Kim 10-12 and is away 11-12; Lee has no shift."""
    sam, kim, lee = (TechnicianFactory(full_name=name) for name in ("Sam", "Kim", "Lee"))
    weekday = FUTURE.weekday()
    db.session.add_all(
        [
            Shift(technician_id=sam.id, weekday=weekday, starts_at=time(9), ends_at=time(12)),
            Shift(technician_id=kim.id, weekday=weekday, starts_at=time(10), ends_at=time(12)),
            TimeOff(technician_id=kim.id, starts=at(11), ends=at(12)),
        ]
    )
    db.session.commit()
    return sam, kim, lee


def test_a_technician_must_be_on_shift_and_free(shifts):
    sam, kim, lee = shifts
    admin = UserFactory(role="admin")
    ok = booking.book(ServiceRequestFactory(), at(10), admin, technician=sam)
    assert ok.technician_id == sam.id
    for technician, start, message in (
        (lee, at(10), "Lee is not on shift"),
        (kim, at(9), "Kim is not on shift"),
        (kim, at(11), "Kim is not on shift"),
        (sam, at(10), "Sam already takes a drop-off"),
    ):
        with pytest.raises(Conflict, match=message):
            booking.book(ServiceRequestFactory(), start, admin, technician=technician)
    customer = CustomerFactory()
    with pytest.raises(ValidationFailed, match="not an active technician"):
        booking.book(ServiceRequestFactory(), at(10), admin, technician=customer)


def test_reschedule_can_change_only_the_technician(shifts):
    sam, kim, _ = shifts
    admin = UserFactory(role="admin")
    appointment = booking.book(ServiceRequestFactory(), at(10), admin, technician=sam)
    db.session.commit()
    booking.reschedule(appointment, at(10), admin, technician=kim)
    db.session.commit()
    assert (appointment.start, appointment.seat, appointment.technician_id) == (at(10), 0, kim.id)
    booking.reschedule(appointment, at(10), admin, technician=None)
    assert appointment.technician_id is None
    # Moving keeps the technician when they can take the new time, and refuses when not.
    booking.reschedule(appointment, at(9), admin, technician=sam)
    with pytest.raises(Conflict, match="Kim is not on shift"):
        booking.reschedule(appointment, at(11), admin, technician=kim)


def test_a_customer_moving_their_drop_off_cannot_pick_the_technician(shifts):
    sam, kim, _ = shifts
    request = ServiceRequestFactory()
    appointment = booking.book(request, at(10), UserFactory(role="admin"), technician=kim)
    db.session.commit()
    with pytest.raises(Forbidden):
        booking.reschedule(appointment, at(9), request.customer, technician=sam)
    # Kim does not work at 9: the shop reassigns the drop-off, the customer still moves it.
    booking.reschedule(appointment, at(9), request.customer)
    assert (appointment.start, appointment.technician_id) == (at(9), None)


# ---------------------------------------------------------------- the API says 409 too


def test_the_api_refuses_booking_moving_and_canceling_for_a_repair_in_the_shop(app, client, shop):
    from fixmyphone.services import tokens

    request = ServiceRequestFactory()
    appointment = booking.book(request, at(10), request.customer)
    request.status, request.checked_in_at = "in_progress", datetime.now(UTC)
    done = ServiceRequestFactory(customer=request.customer, status="completed")
    db.session.commit()
    pair = tokens.start_session(request.customer)
    db.session.commit()
    headers = {"Authorization": f"Bearer {pair.access_token}"}
    responses = [
        client.put(
            f"/api/appointment/{appointment.id}",
            json={"start": at(11).isoformat()},
            headers=headers,
        ),
        client.delete(f"/api/appointment/{appointment.id}", json={}, headers=headers),
        client.post(
            "/api/appointment",
            json={"service_request_id": done.id, "start": at(11).isoformat()},
            headers=headers,
        ),
    ]
    words_each = ("already in the shop", "already in the shop", "is completed")
    for response, words in zip(responses, words_each, strict=True):
        assert response.status_code == 409, response.get_json()
        error = response.get_json()["error"]
        assert error["code"] == "conflict" and words in error["message"]
    db.session.expire_all()
    assert (appointment.start, appointment.status) == (at(10), "scheduled")


def test_the_sql_list_of_bookable_repairs_agrees_with_the_rule(shop):
    import sqlalchemy as sa

    from fixmyphone.models import ServiceRequest
    from fixmyphone.workflow import STATUSES

    requests = []
    for status in STATUSES:
        for checked_in in (False, True):
            request = ServiceRequestFactory(status=status)
            if checked_in:
                request.checked_in_at = datetime.now(UTC)
            requests.append(request)
    booked = ServiceRequestFactory()
    booking.book(booked, at(10), booked.customer)
    requests.append(booked)
    db.session.commit()
    by_rule = {
        r.id
        for r in requests
        if drop_off.drop_off_actions(r, drop_off.active_appointment(r)).can_book
    }
    by_sql = set(db.session.scalars(sa.select(ServiceRequest.id).where(drop_off.bookable_clause())))
    assert by_sql == by_rule
    assert len(by_rule) == 3  # pending, on_hold and scheduled (its appointment gone), not in yet
