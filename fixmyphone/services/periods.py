"""Reporting periods and the SQL that puts a timestamp in the shop's day, week or month.

Periods are half-open: ``start <= t < end``, UTC. Shared by the back-office reports and the
reports from the books (services/billing/books.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app

from ..extensions import db

GROUPINGS = ("day", "week", "month")


@dataclass
class Period:
    """A reporting period, half-open [start, end)."""

    start: datetime
    end: datetime


def dialect() -> str:
    """The database's dialect name ("postgresql", "sqlite"): their date SQL differs."""
    return db.session.get_bind().dialect.name


def _shop_zone() -> str:
    return current_app.config["SHOP_TIMEZONE"]


def bucket(column, grouping: str, period: Optional[Period] = None):
    """A text label of the shop-local day / week (its Monday) / month a timestamp falls in."""
    if grouping not in GROUPINGS:
        raise ValueError(f"grouping must be one of {GROUPINGS}")
    if dialect() == "postgresql":
        local = sa.func.timezone(_shop_zone(), column)
        if grouping == "month":
            return sa.func.to_char(local, "YYYY-MM")
        return sa.func.to_char(sa.func.date_trunc(grouping, local), "YYYY-MM-DD")
    # SQLite has no time zones: shift by the zone's offset in the middle of the period
    # (exact except for the hours around a daylight-saving change).
    moment = period.start + (period.end - period.start) / 2 if period else datetime.now(UTC)
    offset = moment.astimezone(ZoneInfo(_shop_zone())).utcoffset() or timedelta(0)
    shift = f"{int(offset.total_seconds() // 60):+d} minutes"
    if grouping == "day":
        return sa.func.strftime("%Y-%m-%d", column, shift)
    if grouping == "week":
        return sa.func.date(column, shift, "weekday 0", "-6 days")
    return sa.func.strftime("%Y-%m", column, shift)


def within(column, period: Period):
    """``column`` falls in ``period`` (start included, end excluded), as SQL."""
    return sa.and_(column >= period.start, column < period.end)
