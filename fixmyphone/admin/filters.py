"""Custom list filters: dates typed in the shop's calendar, the overdue flag."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask import current_app
from flask_admin.contrib.sqla.filters import BaseSQLAFilter

from ..models import ServiceRequest, utcnow
from ..workflow import FINAL_STATUSES


def parse_local_date(value: str) -> datetime:
    """'2026-11-27' → the shop-local midnight of that day, as aware UTC."""
    day = datetime.strptime(value.strip(), "%Y-%m-%d").date()
    tz = ZoneInfo(current_app.config["SHOP_TIMEZONE"])
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(ZoneInfo("UTC"))


class DateFromFilter(BaseSQLAFilter):
    """On or after a day (shop-local)."""

    def apply(self, query, value, alias=None):
        return query.filter(self.get_column(alias) >= parse_local_date(value))

    def operation(self):
        return "from"

    def validate(self, value):
        try:
            parse_local_date(value)
        except ValueError:
            return False
        return True

    def clean(self, value):
        return value


class DateToFilter(DateFromFilter):
    """On or before a day (shop-local, inclusive)."""

    def apply(self, query, value, alias=None):
        end = parse_local_date(value) + timedelta(days=1)
        return query.filter(self.get_column(alias) < end)

    def operation(self):
        return "to"


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
