"""Template filters and globals: money, shop-local times, status labels."""

from __future__ import annotations

from flask import Flask, current_app

from . import workflow
from .formatting import decimal_amount, format_money, local_time


# Stored values in words, for templates (the services own the words; imported late because
# the services format money with this module).
def _payment_method(method: str) -> str:
    from .services.payments import method_label

    return method_label(method)


def _payment_status(status: str) -> str:
    from .services.payments import status_label

    return status_label(status)


def _appointment_status(status: str) -> str:
    from .services.booking import APPOINTMENT_LABELS

    return APPOINTMENT_LABELS.get(status, status.replace("_", " ").capitalize())


def _label(value, kind: str) -> str:
    """``{{ payment.method|label("payment_method") }}``: a stored value in words."""
    from .labels import label

    return label(kind, value)


def init_templating(app: Flask) -> None:
    """Register filters and globals."""
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["decimal_amount"] = decimal_amount
    app.jinja_env.filters["localtime"] = local_time
    app.jinja_env.filters["status_label"] = workflow.label
    app.jinja_env.filters["label"] = _label
    app.jinja_env.filters["payment_method"] = _payment_method
    app.jinja_env.filters["payment_status"] = _payment_status
    app.jinja_env.filters["appointment_status"] = _appointment_status

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
