"""What the back-office calendar reads from people and sends back: times typed or dragged,
technician ids, JSON bodies, colours and opening hours in FullCalendar's terms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any, Optional

import sqlalchemy as sa
from flask import request

from ..domain_errors import ValidationFailed
from ..extensions import db
from ..models import OpeningHours, TechnicianProfile, User
from ..services import slots

# Technicians get one of these colours each (static/css/calendar.css defines them).
PALETTE_SIZE = 8

# Times further than this from today are typing mistakes (and near datetime's limits).
FURTHEST = timedelta(days=3660)


def parse_local_datetime(value: str) -> datetime:
    """'2026-11-27T10:30' typed in the shop's time zone → aware UTC; raise ValidationFailed."""
    try:
        naive = datetime.strptime((value or "").strip(), "%Y-%m-%dT%H:%M")
    except ValueError as exc:
        raise ValidationFailed(
            "Give the time as YYYY-MM-DDTHH:MM.", {"start": ["Not a date and time."]}
        ) from exc
    return _near(naive.replace(tzinfo=slots.shop_tz()))


def parse_start(value: Any) -> datetime:
    """A start time from the calendar: ISO 8601 with its offset, or a shop-local
    'YYYY-MM-DDTHH:MM' from a date-and-time box."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationFailed("Choose a date and time.", {"start": ["Required."]})
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        moment = None
    if moment is not None and moment.tzinfo is not None:
        return _near(moment)
    return parse_local_datetime(value)


def _near(moment: datetime) -> datetime:
    """``moment`` in UTC, if it is within ten years of today."""
    now = datetime.now(UTC)
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        utc = None
    if utc is None or abs(utc - now) > FURTHEST:
        raise ValidationFailed("That date is too far away.", {"start": ["Too far away."]})
    return utc


def technician_choices() -> list[User]:
    """Active technicians, by name (the calendar's filter, colours and pickers)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(TechnicianProfile, TechnicianProfile.user_id == User.id)
            .where(User.active)
            .order_by(User.full_name, User.id)
        )
    )


def parse_technician(value: Any) -> Optional[User]:
    """The technician named by an id from a form or JSON ('' or null: nobody)."""
    if value is None or value == "":
        return None
    key = row_id(value)
    if key is None:
        raise ValidationFailed("Choose a technician.", {"technician_id": ["Not a technician."]})
    found = db.session.get(User, key)
    if found is None or found.technician_profile is None or not found.active:
        raise ValidationFailed(
            "That person is not an active technician.", {"technician_id": ["Not a technician."]}
        )
    return found


def row_id(value: Any) -> Optional[int]:
    """A row id (ASCII digits within a database integer) from a form, JSON or URL, else None."""
    if isinstance(value, bool):
        return None
    raw = str(value) if isinstance(value, (int, str)) else ""
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        return None
    number = int(raw)
    return number if 1 <= number <= 2**31 - 1 else None


def json_body() -> dict:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise ValidationFailed("The request body must be a JSON object.")
    return data


def colour(index: int) -> str:
    return str(index % PALETTE_SIZE)


def opening_hours() -> dict:
    """Opening hours as FullCalendar business hours, and the time range the grid shows."""
    hours = [
        h
        for h in db.session.scalars(sa.select(OpeningHours).order_by(OpeningHours.weekday))
        if not h.closed and h.opens_at and h.closes_at
    ]
    if not hours:
        return {"businessHours": False, "slotMinTime": "08:00", "slotMaxTime": "20:00"}

    def hhmm(moment, closing=False) -> str:
        text = moment.strftime("%H:%M")
        return "24:00" if closing and text == "00:00" else text

    return {
        # FullCalendar counts days from Sunday (0); the shop from Monday (0).
        "businessHours": [
            {
                "daysOfWeek": [(h.weekday + 1) % 7],
                "startTime": hhmm(h.opens_at),
                "endTime": hhmm(h.closes_at, closing=True),
            }
            for h in hours
        ],
        "slotMinTime": min(hhmm(h.opens_at) for h in hours),
        "slotMaxTime": max(hhmm(h.closes_at, closing=True) for h in hours),
    }
