"""Stored values in people's words: the one function every screen, export header and audit
note uses to show a status, a payment method or state, a role, a channel, a ledger kind...

``label(kind, value)`` looks the value up in the words its owner keeps (the workflow's
statuses, the payments service's methods, the staff service's roles, ...) and falls back to a
readable form of the machine value ("some_value" -> "Some value"), so a value nobody has
worded yet still never shows as ``some_value``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# The kinds of stored values, each with the module-level words that own it. Read late: the
# services format money with templating, which registers this module's filter.
STATUS = "status"
PAYMENT_METHOD = "payment_method"
PAYMENT_STATE = "payment_state"
REFUND_STATE = "refund_state"
ROLE = "role"
APPOINTMENT_STATE = "appointment_state"
CHANNEL = "channel"
NOTIFICATION_STATE = "notification_state"
MOVEMENT = "movement"
DEVICE = "device"
QUOTE_STATE = "quote_state"
INVOICE_KIND = "invoice_kind"
INVOICE_STATE = "invoice_state"
LINE_KIND = "line_kind"

REFUND_WORDS = {
    "pending": "Pending",
    "succeeded": "Refunded",
    "failed": "Failed",
    "canceled": "Canceled",
}
NOTIFICATION_WORDS = {
    "pending": "Waiting to be sent",
    "sending": "Sending",
    "sent": "Sent",
    "failed": "Failed",
    "read": "Read",
}
INVOICE_KIND_WORDS = {"invoice": "Invoice", "credit_note": "Credit note"}
INVOICE_STATE_WORDS = {"draft": "Draft", "issued": "Issued", "void": "Void", "paid": "Paid"}
LINE_WORDS = {"part": "Part", "labour": "Labour", "fee": "Fee", "discount": "Discount"}


def _statuses() -> Mapping[str, str]:
    from .workflow import STATUSES

    return STATUSES


def _methods() -> Mapping[str, str]:
    from .services.payments import METHOD_LABELS

    return METHOD_LABELS


def _payment_states() -> Mapping[str, str]:
    from .services.payments import STATUS_LABELS

    return STATUS_LABELS


def _roles() -> Mapping[str, str]:
    from .services.staff import ROLE_LABELS

    return ROLE_LABELS


def _appointments() -> Mapping[str, str]:
    from .services.booking import APPOINTMENT_LABELS

    return APPOINTMENT_LABELS


def _channels() -> Mapping[str, str]:
    from .public.forms import CHANNEL_LABELS

    return CHANNEL_LABELS


def _movements() -> Mapping[str, str]:
    from .services.inventory import MOVEMENT_LABELS

    return MOVEMENT_LABELS


def _devices() -> Mapping[str, str]:
    from .public.forms import DEVICE_LABELS

    return DEVICE_LABELS


def _quotes() -> Mapping[str, str]:
    from .services.estimates import STATUS_LABELS

    return STATUS_LABELS


WORDS: dict[str, Callable[[], Mapping[str, str]]] = {
    STATUS: _statuses,
    PAYMENT_METHOD: _methods,
    PAYMENT_STATE: _payment_states,
    REFUND_STATE: lambda: REFUND_WORDS,
    ROLE: _roles,
    APPOINTMENT_STATE: _appointments,
    CHANNEL: _channels,
    NOTIFICATION_STATE: lambda: NOTIFICATION_WORDS,
    MOVEMENT: _movements,
    DEVICE: _devices,
    QUOTE_STATE: _quotes,
    INVOICE_KIND: lambda: INVOICE_KIND_WORDS,
    INVOICE_STATE: lambda: INVOICE_STATE_WORDS,
    LINE_KIND: lambda: LINE_WORDS,
}


def fallback(value: Any) -> str:
    """A machine value nobody has worded, made readable: 'some_value' -> 'Some value'."""
    if value is None:
        return "—"
    return str(value).replace("_", " ").capitalize()


def label(kind: str, value: Any) -> str:
    """A stored value of ``kind`` in people's words (see ``WORDS``); unknown -> readable."""
    if value is None or value == "":
        return "—"
    words = WORDS.get(kind)
    if words is not None:
        found = words().get(value)
        if found:
            return found
    return fallback(value)


def formatter(kind: str, column: str) -> Callable[..., str]:
    """A Flask-Admin column formatter showing ``column`` of a row as ``label(kind, ...)``."""

    def _format(view, context, model, name) -> str:
        return label(kind, getattr(model, column, None))

    return _format


# What a stored field of a row holds, by the row's type, for values shown outside their own
# column (the audit log's before/after).
_FIELD_KINDS = {
    "method": PAYMENT_METHOD,
    "role": ROLE,
    "channel": CHANNEL,
    "device_type": DEVICE,
    "quote_status": QUOTE_STATE,
}
_STATUS_OF = {
    "Payment": PAYMENT_STATE,
    "Refund": REFUND_STATE,
    "Appointment": APPOINTMENT_STATE,
    "Notification": NOTIFICATION_STATE,
    "Invoice": INVOICE_STATE,
}
_KIND_OF = {"StockMovement": MOVEMENT, "Invoice": INVOICE_KIND}
_MONEY_FIELDS = ("amount", "cost", "price", "tendered", "total", "balance")


def field_kind(object_type: str, field: str) -> str | None:
    """The label kind of ``field`` on a row of ``object_type`` (``None``: not a stored enum)."""
    if field == "status" or field.endswith("_status") and field != "quote_status":
        return _STATUS_OF.get(object_type, STATUS)
    if field == "kind":
        return _KIND_OF.get(object_type, LINE_KIND)
    return _FIELD_KINDS.get(field)


def field_value(object_type: str, field: str, value: Any, currency: str | None = None) -> str:
    """One stored field of a row in people's words: enums labelled, amounts as money."""
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "Yes" if value else "No"
    kind = field_kind(object_type, field)
    if kind is not None and isinstance(value, str):
        return label(kind, value)
    if isinstance(value, int) and (field in _MONEY_FIELDS or field.endswith("_amount")):
        from .formatting import format_money

        return format_money(value, currency)
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, ensure_ascii=False, default=str)
    return str(value)


def describe(object_type: str, values: Mapping[str, Any] | None) -> str:
    """A row's stored values for people: 'Status: Needs review; Method: Bank transfer'."""
    if not values:
        return ""
    currency = values.get("currency") if isinstance(values.get("currency"), str) else None
    return "; ".join(
        f"{fallback(field)}: {field_value(object_type, field, value, currency)}"
        for field, value in values.items()
    )
