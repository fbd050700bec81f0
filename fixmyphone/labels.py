"""Stored values in people's words: the one place that turns a status, a payment method or
state, a role, a channel, a ledger kind... into what people read, on every screen, export
header and audit note.

``label(kind, value)`` looks the value up in the words below (keyed by the models' enums) and
falls back to a readable form of the machine value ("some_value" -> "Some value"), so a value
nobody has worded yet still never shows as ``some_value``.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .formatting import format_money
from .models import (
    AppointmentStatus,
    DeviceType,
    InvoiceKind,
    InvoiceLineKind,
    InvoiceStatus,
    MovementKind,
    NotificationChannel,
    NotificationStatus,
    PaymentMethod,
    PaymentStatus,
    QuoteStatus,
    RefundStatus,
    RepairStatus,
    Role,
)

# The kinds of stored values.
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
QUOTE_STATE_FOR_CUSTOMER = "quote_state_for_customer"
INVOICE_KIND = "invoice_kind"
INVOICE_STATE = "invoice_state"
LINE_KIND = "line_kind"

# A repair's statuses, in the workflow's order, as the API contract words them.
STATUS_WORDS: dict[str, str] = {
    RepairStatus.PENDING: "Pending",
    RepairStatus.IN_PROGRESS: "In Progress",
    RepairStatus.AWAITING_PARTS: "Awaiting Parts",
    RepairStatus.ON_HOLD: "On Hold",
    RepairStatus.QUALITY_CHECK: "Quality Check",
    RepairStatus.READY_FOR_PICKUP: "Ready for Pickup",
    RepairStatus.COMPLETED: "Completed",
    RepairStatus.CANCELED: "Canceled",
    RepairStatus.SCHEDULED: "Scheduled",
    RepairStatus.PAYMENT_PENDING: "Payment Pending",
    RepairStatus.DELAYED: "Delayed",
    RepairStatus.CLOSED: "Closed",
    RepairStatus.DISPATCHED: "Dispatched",
}
WORDS: dict[str, Mapping[str, str]] = {
    STATUS: STATUS_WORDS,
    PAYMENT_METHOD: {
        PaymentMethod.STRIPE: "Card (online)",
        PaymentMethod.CASH: "Cash",
        PaymentMethod.CARD_TERMINAL: "Card terminal",
        PaymentMethod.BANK_TRANSFER: "Bank transfer",
    },
    # The counter words a pending payment as waiting for verification itself.
    PAYMENT_STATE: {
        PaymentStatus.PENDING: "Pending",
        PaymentStatus.SUCCEEDED: "Received",
        PaymentStatus.FAILED: "Failed",
        PaymentStatus.CANCELED: "Canceled",
        PaymentStatus.NEEDS_REVIEW: "Needs review",
    },
    REFUND_STATE: {
        RefundStatus.PENDING: "Pending",
        RefundStatus.SUCCEEDED: "Refunded",
        RefundStatus.FAILED: "Failed",
        RefundStatus.CANCELED: "Canceled",
    },
    ROLE: {
        Role.CUSTOMER: "Customer",
        Role.TECHNICIAN: "Technician",
        Role.ADMIN: "Admin",
        Role.SUPERADMIN: "Super admin",
    },
    APPOINTMENT_STATE: {
        AppointmentStatus.SCHEDULED: "Scheduled",
        AppointmentStatus.COMPLETED: "Device received",
        AppointmentStatus.CANCELED: "Canceled",
        AppointmentStatus.NO_SHOW: "No show",
    },
    CHANNEL: {
        NotificationChannel.EMAIL: "Email",
        NotificationChannel.SMS: "SMS",
        NotificationChannel.IN_APP: "In the app",
    },
    NOTIFICATION_STATE: {
        NotificationStatus.PENDING: "Waiting to be sent",
        NotificationStatus.SENDING: "Sending",
        NotificationStatus.SENT: "Sent",
        NotificationStatus.FAILED: "Failed",
        NotificationStatus.READ: "Read",
    },
    MOVEMENT: {
        MovementKind.RECEIVE: "Received",
        MovementKind.RETURN: "Returned to stock",
        MovementKind.ADJUST: "Count corrected",
        MovementKind.RESERVE: "Reserved for a repair",
        MovementKind.RELEASE: "Reservation ended",
        MovementKind.CONSUME: "Used in a repair",
        MovementKind.SALE: "Sold at the counter",
    },
    DEVICE: {
        DeviceType.PHONE: "Phone",
        DeviceType.TABLET: "Tablet",
        DeviceType.SMARTWATCH: "Smartwatch",
        DeviceType.LAPTOP: "Laptop",
        DeviceType.OTHER: "Something else",
    },
    QUOTE_STATE: {
        QuoteStatus.NONE: "No estimate yet",
        QuoteStatus.DRAFT: "Draft: not sent to the customer",
        QuoteStatus.PENDING: "Sent: waiting for the customer",
        QuoteStatus.APPROVED: "Approved by the customer",
        QuoteStatus.DECLINED: "Declined by the customer",
    },
    # An estimate sent to the customer, as the customer reads it.
    QUOTE_STATE_FOR_CUSTOMER: {
        QuoteStatus.PENDING: "Waiting for your approval",
        QuoteStatus.APPROVED: "Approved",
        QuoteStatus.DECLINED: "Declined",
    },
    INVOICE_KIND: {InvoiceKind.INVOICE: "Invoice", InvoiceKind.CREDIT_NOTE: "Credit note"},
    INVOICE_STATE: {InvoiceStatus.DRAFT: "Draft", InvoiceStatus.ISSUED: "Issued"},
    # Estimate lines and charges use the first four.
    LINE_KIND: {
        InvoiceLineKind.PART: "Part",
        InvoiceLineKind.LABOUR: "Labour",
        InvoiceLineKind.FEE: "Fee",
        InvoiceLineKind.DISCOUNT: "Discount",
        InvoiceLineKind.DEPOSIT: "Deposit",
        InvoiceLineKind.DEDUCTION: "Deduction",
        InvoiceLineKind.CREDIT: "Credit",
    },
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
    found = WORDS.get(kind, {}).get(value)
    return found or fallback(value)


def options(kind: str, values: Iterable[str] | None = None) -> list[tuple[str, str]]:
    """(value, words) pairs for a choice or a filter: every worded value of ``kind`` in its
    order, or ``values`` in theirs."""
    chosen = WORDS.get(kind, {}) if values is None else values
    return [(value, label(kind, value)) for value in chosen]


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
        return format_money(value, currency)
    if isinstance(value, (dict, list)):
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
