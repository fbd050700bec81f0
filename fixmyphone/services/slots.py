"""The slot engine: free slots from opening hours, staff shifts, time off and bookings.

A slot's capacity is the number of technicians on duty for all of it (at least the shop's
minimum); what is booked comes from the seats taken in it (see ``booking``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import (
    Appointment,
    AppointmentStatus,
    OpeningHours,
    Shift,
    ShopSettings,
    TimeOff,
    utcnow,
)


@dataclass(frozen=True)
class Slot:
    """One bookable interval and how many places are left in it."""

    start: datetime
    end: datetime
    capacity: int
    booked: int

    @property
    def free(self) -> int:
        return max(self.capacity - self.booked, 0)


def shop_tz() -> ZoneInfo:
    """The shop's time zone."""
    return ZoneInfo(current_app.config["SHOP_TIMEZONE"])


def shop_today() -> date:
    """Today's date in the shop's time zone."""
    return utcnow().astimezone(shop_tz()).date()


def settings() -> ShopSettings:
    """The shop's settings row (defaults when none has been saved)."""
    row = db.session.scalar(sa.select(ShopSettings).limit(1))
    return row or ShopSettings(slot_minutes=30, default_slot_capacity=1, booking_horizon_days=30)


def _slot_starts(day: date, hours: Optional[OpeningHours], minutes: int, tz: ZoneInfo):
    if hours is None or hours.closed or not hours.opens_at or not hours.closes_at:
        return []
    start = datetime.combine(day, hours.opens_at, tzinfo=tz)
    close = datetime.combine(day, hours.closes_at, tzinfo=tz)
    step = timedelta(minutes=minutes)
    starts = []
    while start + step <= close:
        starts.append(start)
        start += step
    return starts


def slots_for_range(
    first: date, days: int, now: Optional[datetime] = None
) -> dict[date, list[Slot]]:
    """Every slot for ``days`` days from ``first`` with capacity and bookings, in few queries."""
    tz = shop_tz()
    now = now or utcnow()
    cfg = settings()
    minutes = cfg.slot_minutes or 30
    hours = {h.weekday: h for h in db.session.scalars(sa.select(OpeningHours))}
    # Plain rows grouped by weekday: the capacity loop below runs once per slot.
    shifts: dict[int, list] = {}
    for row in db.session.execute(
        sa.select(Shift.technician_id, Shift.weekday, Shift.starts_at, Shift.ends_at)
    ):
        shifts.setdefault(row.weekday, []).append((row.technician_id, row.starts_at, row.ends_at))
    by_day: dict[date, list[datetime]] = {}
    for offset in range(days):
        day = first + timedelta(days=offset)
        by_day[day] = _slot_starts(day, hours.get(day.weekday()), minutes, tz)
    all_starts = [s for starts in by_day.values() for s in starts]
    if not all_starts:
        return {day: [] for day in by_day}
    range_start = min(all_starts).astimezone(UTC)
    range_end = max(all_starts).astimezone(UTC) + timedelta(minutes=minutes)
    booked_rows = db.session.execute(
        sa.select(Appointment.start, sa.func.count())
        .where(
            Appointment.status == AppointmentStatus.SCHEDULED,
            Appointment.seat.is_not(None),
            Appointment.start >= range_start,
            Appointment.start < range_end,
        )
        .group_by(Appointment.start)
    ).all()
    booked = {start.astimezone(UTC): count for start, count in booked_rows}
    time_off = db.session.execute(
        sa.select(TimeOff.technician_id, TimeOff.starts, TimeOff.ends).where(
            TimeOff.ends > range_start, TimeOff.starts < range_end
        )
    ).all()
    result: dict[date, list[Slot]] = {}
    for day, starts in by_day.items():
        slots = []
        for local_start in starts:
            local_end = local_start + timedelta(minutes=minutes)
            start_utc = local_start.astimezone(UTC)
            end_utc = local_end.astimezone(UTC)
            capacity = _capacity(local_start, local_end, start_utc, end_utc, shifts, time_off, cfg)
            slots.append(Slot(start_utc, end_utc, capacity, booked.get(start_utc, 0)))
        result[day] = slots
    return result


def _capacity(local_start, local_end, start_utc, end_utc, shifts, time_off, cfg) -> int:
    if not shifts:
        return cfg.default_slot_capacity or 1
    return len(on_duty(local_start, local_end, start_utc, end_utc, shifts, time_off))


def on_duty(local_start, local_end, start_utc, end_utc, shifts, time_off) -> set[int]:
    """The technicians whose shift covers the slot and who are not away during it."""
    away = {t.technician_id for t in time_off if t.starts < end_utc and t.ends > start_utc}
    slot_from = local_start.time()
    slot_to = local_end.time() if local_end.time() != time(0) else time.max
    return {
        tech
        for tech, starts_at, ends_at in shifts.get(local_start.weekday(), ())
        if starts_at <= slot_from and ends_at >= slot_to and tech not in away
    }


def slots_for_day(day: date, now: Optional[datetime] = None) -> list[Slot]:
    """All slots of one shop-local day."""
    return slots_for_range(day, 1, now)[day]


def is_bookable(slot: Slot, now: Optional[datetime] = None) -> bool:
    """A slot can be booked when it is in the future and has a free place."""
    return slot.start > (now or utcnow()) and slot.free > 0


def find_slot(start: datetime) -> Optional[Slot]:
    """The slot starting exactly at ``start`` (any time zone), or None if there is none."""
    try:
        start = start.astimezone(UTC)
        day = start.astimezone(shop_tz()).date()
        slots = slots_for_day(day)
    except OverflowError:  # a time at the very ends of the calendar (year 1 or 9999)
        return None
    for slot in slots:
        if slot.start == start:
            return slot
    return None
