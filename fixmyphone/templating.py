"""Template filters and globals: money, shop-local times, status labels."""

from __future__ import annotations

from functools import partial

from flask import Flask, current_app

from . import labels, workflow
from .formatting import decimal_amount, format_money, local_time


def _label(value, kind: str) -> str:
    """``{{ payment.method|label("payment_method") }}``: a stored value in words."""
    return labels.label(kind, value)


def init_templating(app: Flask) -> None:
    """Register filters and globals."""
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["decimal_amount"] = decimal_amount
    app.jinja_env.filters["localtime"] = local_time
    # Stored values in words (labels.py holds them all).
    app.jinja_env.filters["label"] = _label
    app.jinja_env.filters["status_label"] = partial(labels.label, labels.STATUS)
    app.jinja_env.filters["payment_method"] = partial(labels.label, labels.PAYMENT_METHOD)
    app.jinja_env.filters["payment_status"] = partial(labels.label, labels.PAYMENT_STATE)
    app.jinja_env.filters["appointment_status"] = partial(labels.label, labels.APPOINTMENT_STATE)

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
