"""Every number, amount and time shown to people is formatted here, in the shop's locale and
time zone: screens, e-mails, PDFs, CSV exports and audit notes all call these.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Optional
from zoneinfo import ZoneInfo

from babel.numbers import format_currency
from flask import current_app, has_app_context

# Currencies without minor units (Stripe's list of the ones a shop may plausibly use): an
# amount of 1234 JPY is ¥1,234. Every other currency has 2 decimals.
ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "isk", "huf"}
DEFAULT_LOCALE = "en_US"


def minor_digits(currency: str) -> int:
    """How many decimals the currency's minor units have (0 or 2)."""
    return 0 if currency.lower() in ZERO_DECIMAL else 2


def _currency(currency: Optional[str]) -> str:
    if currency:
        return currency.lower()
    return current_app.config["SHOP_CURRENCY"].lower() if has_app_context() else "usd"


def to_decimal(amount: int, currency: Optional[str] = None) -> Decimal:
    """Minor units as an exact decimal amount: 4999 USD → Decimal('49.99')."""
    return Decimal(int(amount)).scaleb(-minor_digits(_currency(currency)))


def decimal_amount(amount: Optional[int], currency: Optional[str] = None) -> str:
    """The plain decimal amount for machines and spreadsheets (CSV): 4999 → '49.99'."""
    if amount is None:
        return ""
    digits = minor_digits(_currency(currency))
    return f"{to_decimal(amount, currency):.{digits}f}"


def format_money(
    amount: Optional[int], currency: Optional[str] = None, locale: Optional[str] = None
) -> str:
    """Minor units as money for people, in the shop's locale: 4999, 'usd' → '$49.99'.

    The one way every screen, e-mail, PDF and audit note writes an amount (Babel's
    ``format_currency``; ``SHOP_LOCALE`` picks the symbol's place and the separators).
    """
    if amount is None:
        return "—"
    code = _currency(currency)
    if locale is None:
        locale = current_app.config["SHOP_LOCALE"] if has_app_context() else None
    return format_currency(to_decimal(amount, code), code.upper(), locale=locale or DEFAULT_LOCALE)


def local_time(moment: Optional[datetime], fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """A UTC datetime shown in the shop's time zone."""
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(current_app.config["SHOP_TIMEZONE"])).strftime(fmt)
