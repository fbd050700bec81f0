"""Strict marshmallow fields: the API answers 422 to wrong types instead of coercing them."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import marshmallow as ma
from werkzeug.routing import BaseConverter

# RFC 3339 date-time as OpenAPI's `format: date-time` means it: offset required.
RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<h>\d{2}):(?P<m>\d{2}):(?P<s>\d{2})"
    r"(?P<frac>\.\d+)?(?P<tz>[Zz]|[+-]\d{2}:\d{2})"
)
MAX_ID = 2**31 - 1


class IdConverter(BaseConverter):
    """A record id in a URL: ``<id:request_id>``.

    Any run of digits matches, so an id that names nothing (0, or one past the database's
    integer range) reaches the view as 0, which no record has, and answers the contract's 404
    on every method. Werkzeug's ``int(min=, max=)`` would instead fail the rule, and a URL that
    another method's rule shares then answered 405.
    """

    regex = r"[0-9]{1,30}"  # ASCII digits: Python's \d also takes a Tai Lue or full-width 4

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if 1 <= number <= MAX_ID else 0

    def to_url(self, value) -> str:
        return str(int(value))


def id_parameter_schema(_converter: IdConverter) -> dict:
    """How an ``<id:...>`` path parameter looks in the OpenAPI document."""
    return {"type": "integer", "minimum": 1, "maximum": MAX_ID}


class Text(ma.fields.String):
    """A JSON string only (no numbers coerced); NUL characters are refused (PostgreSQL cannot
    store them)."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        if "\x00" in value:
            raise ma.ValidationError("Must not contain NUL characters.")
        return super()._deserialize(value, attr, data, **kwargs)


class Flag(ma.fields.Boolean):
    """JSON true or false only (not 1, "yes" or "true")."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, bool):
            raise self.make_error("invalid")
        return value


class Id(ma.fields.Integer):
    """A positive database id (a JSON integer, never a string or a float)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("strict", True)
        kwargs.setdefault("validate", ma.validate.Range(min=1, max=MAX_ID))
        super().__init__(**kwargs)


class Timestamp(ma.fields.DateTime):
    """An RFC 3339 date-time with its offset, handed to services as aware UTC."""

    default_error_messages = {
        "invalid": "Not a valid date-time; use ISO 8601 with an offset, e.g. 2026-12-01T10:30:00+00:00.",
        "range": "That date-time is out of range.",
    }

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise self.make_error("invalid")
        match = RFC3339.fullmatch(value)
        if match is None:
            raise self.make_error("invalid")
        # A leap second (…:60) is a valid RFC 3339 time; Python has none, so use :59.
        seconds = min(int(match["s"]), 59)
        frac = (match["frac"] or "")[:7]  # at most microseconds
        tz = match["tz"].upper().replace("Z", "+00:00")
        text = f"{match['date']}T{match['h']}:{match['m']}:{seconds:02d}{frac}{tz}"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise self.make_error("invalid") from None
        try:
            return parsed.astimezone(UTC)
        except OverflowError:
            raise self.make_error("range") from None
