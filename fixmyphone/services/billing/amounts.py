"""Amounts as staff type them and as the books store them: whole minor units, never floats."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from ...formatting import ZERO_DECIMAL

# The largest amount a form may hold: well inside a 32-bit INTEGER column.
MAX_AMOUNT = 100_000_000


def is_amount(value: object, *, allow_zero: bool = False) -> bool:
    """True for a whole number of minor units (not a bool), positive or, if allowed, zero."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return value >= 0 if allow_zero else value > 0


def parse_amount(raw: object, currency: str = "usd") -> int | None:
    """A typed amount ('49.99', '49,99', '50') in minor units, or None if it is not a positive
    amount with at most the currency's decimals. Exact (no float rounding); refuses 'inf'/'nan'."""
    text = str(raw or "").strip().replace(",", ".")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    decimals = 0 if currency.lower() in ZERO_DECIMAL else 2
    minor = value.scaleb(decimals)
    if minor != minor.to_integral_value() or not 0 < minor <= MAX_AMOUNT:
        return None
    return int(minor)
