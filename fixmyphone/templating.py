"""Template filters and globals: money, shop-local times, status labels."""

from __future__ import annotations

from datetime import datetime
from typing import Optional
from zoneinfo import ZoneInfo

from flask import Flask, current_app

from . import workflow

CURRENCY_SYMBOLS = {"usd": "$", "eur": "€", "gbp": "£", "cad": "CA$", "aud": "A$"}
ZERO_DECIMAL = {"jpy", "krw", "vnd", "clp", "isk", "huf"}


def format_money(amount: Optional[int], currency: Optional[str] = None) -> str:
    """Minor units to a display string: 4999, 'usd' → '$49.99'."""
    if amount is None:
        return "—"
    currency = (currency or current_app.config["SHOP_CURRENCY"]).lower()
    symbol = CURRENCY_SYMBOLS.get(currency, currency.upper() + " ")
    if currency in ZERO_DECIMAL:
        return f"{symbol}{amount:,}"
    sign = "-" if amount < 0 else ""
    return f"{sign}{symbol}{abs(amount) / 100:,.2f}"


def local_time(moment: Optional[datetime], fmt: str = "%a %d %b %Y, %H:%M") -> str:
    """A UTC datetime shown in the shop's time zone."""
    if moment is None:
        return "—"
    return moment.astimezone(ZoneInfo(current_app.config["SHOP_TIMEZONE"])).strftime(fmt)


def init_templating(app: Flask) -> None:
    """Register filters and globals."""
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["status_label"] = workflow.label

    @app.context_processor
    def shop_globals():
        cfg = current_app.config
        return {
            "shop": {
                "name": cfg["SHOP_NAME"],
                "address": cfg["SHOP_ADDRESS"],
                "phone": cfg["SHOP_PHONE"],
                "email": cfg["SHOP_EMAIL"],
                "timezone": cfg["SHOP_TIMEZONE"],
            },
            "STATUSES": workflow.STATUSES,
        }
