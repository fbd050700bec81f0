"""Custom list filters: shop-calendar dates, whole numbers in range, the overdue flag."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterEqual

from ..models import ServiceRequest, utcnow
from ..workflow import FINAL_STATUSES

# The range of an INTEGER column (ids, counts) on PostgreSQL.
MIN_INTEGER, MAX_INTEGER = -(2**31), 2**31 - 1


def parse_local_date(value: str) -> datetime:
    """'2026-11-27' → the shop-local midnight of that day, as aware UTC."""
    day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    tz = ZoneInfo(current_app.config["SHOP_TIMEZONE"])
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


class DateFromFilter(BaseSQLAFilter):
    """On or after a day (shop-local)."""

    def bound(self, value: str) -> datetime:
        """The instant the filter compares with."""
        return parse_local_date(value)

    def apply(self, query, value, alias=None):
        return query.filter(self.get_column(alias) >= self.bound(value))

    def operation(self):
        return "from"

    def validate(self, value):
        # A day near year 1 or 9999 may not survive the shift to UTC: invalid, like a typo.
        try:
            self.bound(value)
        except (ValueError, OverflowError):
            return False
        return True

    def clean(self, value):
        return value


class DateToFilter(DateFromFilter):
    """On or before a day (shop-local, inclusive)."""

    def bound(self, value: str) -> datetime:
        return parse_local_date(value) + timedelta(days=1)

    def apply(self, query, value, alias=None):
        return query.filter(self.get_column(alias) < self.bound(value))

    def operation(self):
        return "to"


class IntEqualFilter(FilterEqual):
    """Equal to a whole number. A value that is not one, or that an INTEGER column cannot hold
    (``99999999999999999999``), is invalid: Flask-Admin says so and ignores the filter instead
    of sending it to the database (a string compared with an INTEGER column fails on
    PostgreSQL, and a number past the range raises there and on SQLite)."""

    def validate(self, value):
        try:
            number = int(str(value).strip())
        except ValueError:
            return False
        return MIN_INTEGER <= number <= MAX_INTEGER

    def clean(self, value):
        return int(str(value).strip())


class OverdueFilter(BaseSQLAFilter):
    """Past the estimated completion and not finished."""

    def __init__(self, name: str = "Overdue"):
        super().__init__(ServiceRequest.estimated_completion, name, options=[("yes", "yes")])

    def apply(self, query, value, alias=None):
        return query.filter(overdue_clause()) if value == "yes" else query

    def operation(self):
        return "is"


def overdue_clause():
    """SQL for 'past its estimated completion and not finished'."""
    return (
        ServiceRequest.estimated_completion.is_not(None)
        & (ServiceRequest.estimated_completion < utcnow())
        & ServiceRequest.status.not_in(FINAL_STATUSES)
    )
