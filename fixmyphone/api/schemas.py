"""Request and response schemas of the JSON API (they also make the OpenAPI document).

Input schemas ignore unknown fields and validate exactly what the document promises, so a
request the document calls valid is not refused for its shape.
"""

from __future__ import annotations

import re

import marshmallow as ma
from marshmallow import validate

from ..models import (
    DEVICE_TYPES,
    LINE_KINDS,
    ROLES,
    AppointmentStatus,
    QuoteStatus,
    Role,
)
from ..services.accounts import PHONE_PATTERN
from ..workflow import STATUSES
from .fields import Flag, Id, Text, Timestamp

# Patterns are applied with `re.search`, as JSON Schema applies `pattern`. Whitespace is
# spelled out (JavaScript's and Python's `\s` differ) so that both sides agree exactly.
WHITESPACE = (
    r"\t\n\x0b\x0c\r \x1c-\x1f\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
NOT_BLANK = rf"[^{WHITESPACE}]"
PHONE = PHONE_PATTERN
COUNTRY = r"^[A-Za-z]{2}$"
IMEI = r"^[0-9]{15}$"
EMAIL = rf"^[^@{WHITESPACE}]+@[^@{WHITESPACE}]+\.[^@{WHITESPACE}]+$"


class Pattern(validate.Validator):
    """Like ``validate.Regexp`` but applied as JSON Schema applies ``pattern`` (a search)."""

    def __init__(self, pattern: str, error: str):
        self.pattern = pattern
        # In JSON Schema `$` is the end of the text; Python's also matches before a final "\n".
        python = (
            pattern[:-1] + r"\Z"
            if pattern.endswith("$") and not pattern.endswith("\\$")
            else pattern
        )
        self.regex = re.compile(python)
        self.error = error

    def __call__(self, value):
        if self.regex.search(value) is None:
            raise ma.ValidationError(self.error)
        return value


def text(
    *,
    max_length: int,
    min_length: int = 0,
    pattern: str | None = None,
    message: str = "Not in the expected format.",
    **kwargs,
) -> Text:
    """A string field whose document constraints match its validation."""
    validators = [validate.Length(min=min_length or None, max=max_length)]
    metadata = kwargs.pop("metadata", {})
    if pattern:
        validators.append(Pattern(pattern, message))
        metadata["pattern"] = pattern
    return Text(validate=validators, metadata=metadata, **kwargs)


def required_text(max_length: int, **kwargs) -> Text:
    """A required string with at least one non-space character."""
    return text(
        max_length=max_length,
        min_length=1,
        pattern=NOT_BLANK,
        message="This field is required.",
        required=True,
        **kwargs,
    )


APPOINTMENT_STATUSES = [
    AppointmentStatus.SCHEDULED,
    AppointmentStatus.CANCELED,
    AppointmentStatus.COMPLETED,
    AppointmentStatus.NO_SHOW,
]


class Input(ma.Schema):
    """Base of request bodies: unknown fields are ignored (the contract says so)."""

    class Meta:
        unknown = ma.EXCLUDE


# ---------------------------------------------------------------- accounts and tokens


class LoginSchema(Input):
    email = Text(required=True, validate=validate.Length(min=1, max=254))
    password = Text(required=True, validate=validate.Length(min=1, max=1024))


class RefreshSchema(Input):
    refresh_token = Text(required=True, validate=validate.Length(min=1, max=200))


class UserBriefSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    email = ma.fields.String(required=True)
    full_name = ma.fields.String(required=True)
    role = ma.fields.String(required=True, validate=validate.OneOf(ROLES))


class TokenPairSchema(ma.Schema):
    access_token = ma.fields.String(required=True)
    refresh_token = ma.fields.String(required=True)
    token_type = ma.fields.String(required=True, validate=validate.OneOf(["Bearer"]))
    expires_in = ma.fields.Integer(
        required=True, metadata={"description": "Seconds the access token lives."}
    )
    user = ma.fields.Nested(UserBriefSchema, required=True)


class CreateCustomerSchema(Input):
    email = text(
        max_length=254,
        pattern=EMAIL,
        message="Enter a valid email address.",
        required=True,
    )
    password = Text(
        required=True,
        validate=validate.Length(min=8, max=128, error="Use between 8 and 128 characters."),
        metadata={
            "format": "password",
            "description": "8 to 128 characters; a very common password is refused (422).",
        },
    )
    full_name = required_text(120)
    phone = text(
        max_length=32,
        pattern=PHONE,
        message="Enter a phone number with digits, spaces and an optional leading +.",
        allow_none=True,
    )


class CustomerSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    email = ma.fields.String(required=True)
    full_name = ma.fields.String(required=True)
    phone = ma.fields.String(required=True, allow_none=True)
    role = ma.fields.String(required=True, validate=validate.OneOf([Role.CUSTOMER]))
    created_at = ma.fields.DateTime(required=True)


class ProfileSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    email = ma.fields.String(required=True)
    full_name = ma.fields.String(required=True)
    role = ma.fields.String(required=True, validate=validate.OneOf(ROLES))
    phone = ma.fields.String(required=True, allow_none=True)
    address_line1 = ma.fields.String(required=True, allow_none=True)
    address_line2 = ma.fields.String(required=True, allow_none=True)
    city = ma.fields.String(required=True, allow_none=True)
    postal_code = ma.fields.String(required=True, allow_none=True)
    country = ma.fields.String(required=True, allow_none=True)
    notify_email = ma.fields.Boolean(required=True)
    notify_sms = ma.fields.Boolean(required=True)
    notify_in_app = ma.fields.Boolean(required=True)
    created_at = ma.fields.DateTime(required=True)


class ProfileUpdateSchema(Input):
    full_name = text(max_length=120, min_length=1, pattern=NOT_BLANK, message="Tell us your name.")
    phone = text(
        max_length=32,
        pattern=PHONE,
        message="Enter a phone number with digits, spaces and an optional leading +.",
        allow_none=True,
    )
    address_line1 = text(max_length=200, allow_none=True)
    address_line2 = text(max_length=200, allow_none=True)
    city = text(max_length=100, allow_none=True)
    postal_code = text(max_length=20, allow_none=True)
    country = text(
        max_length=2,
        pattern=COUNTRY,
        message="Use the two-letter country code, e.g. US or GB.",
        allow_none=True,
    )
    notify_email = Flag()
    notify_sms = Flag()
    notify_in_app = Flag()


# ---------------------------------------------------------------- service requests


class ServiceRequestCreateSchema(Input):
    device_type = Text(required=True, validate=validate.OneOf(DEVICE_TYPES))
    brand = required_text(60)
    model = required_text(80)
    imei = text(
        max_length=15,
        pattern=IMEI,
        message="An IMEI is 15 digits with a valid check digit (dial *#06# to see it).",
        allow_none=True,
        metadata={"format": "imei", "description": "15 digits with a valid Luhn check digit."},
    )
    issue_description = required_text(5000)
    preferred_time = Timestamp(allow_none=True)


class NameSchema(ma.Schema):
    name = ma.fields.String(required=True, metadata={"description": "First name."})


class PersonSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    full_name = ma.fields.String(required=True)


class AppointmentSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    service_request_id = ma.fields.Integer(required=True)
    start = ma.fields.DateTime(required=True)
    end = ma.fields.DateTime(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(APPOINTMENT_STATUSES))
    cancel_reason = ma.fields.String(required=True, allow_none=True)


class ServiceRequestSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    reference = ma.fields.String(required=True, metadata={"example": "FMP-24A7K9"})
    status = ma.fields.String(required=True, validate=validate.OneOf(list(STATUSES)))
    status_label = ma.fields.String(required=True)
    device_type = ma.fields.String(required=True, validate=validate.OneOf(DEVICE_TYPES))
    brand = ma.fields.String(required=True)
    model = ma.fields.String(required=True)
    imei = ma.fields.String(required=True, allow_none=True)
    issue_description = ma.fields.String(required=True)
    preferred_time = ma.fields.DateTime(required=True, allow_none=True)
    estimated_completion = ma.fields.DateTime(required=True, allow_none=True)
    created_at = ma.fields.DateTime(required=True)


class MoneySchema(ma.Schema):
    """Money as the contract writes it: integer minor units plus a lower-case currency code."""

    amount = ma.fields.Integer(required=True)
    currency = ma.fields.String(required=True, metadata={"example": "usd"})


ESTIMATE_STATUSES = [QuoteStatus.PENDING, QuoteStatus.APPROVED, QuoteStatus.DECLINED]


class EstimateLineSchema(ma.Schema):
    kind = ma.fields.String(required=True, validate=validate.OneOf(LINE_KINDS))
    description = ma.fields.String(required=True)
    quantity = ma.fields.Integer(required=True)
    minutes = ma.fields.Integer(
        required=True, allow_none=True, metadata={"description": "Labour time (by the hour)."}
    )
    unit_amount = ma.fields.Nested(
        MoneySchema, required=True, metadata={"description": "Unit price, or hourly rate."}
    )
    tax_exempt = ma.fields.Boolean(required=True)
    tax_rate_bp = ma.fields.Integer(required=True, metadata={"description": "2000 = 20 %"})
    net = ma.fields.Nested(MoneySchema, required=True, metadata={"description": "Before tax."})
    tax = ma.fields.Nested(MoneySchema, required=True)


class EstimateSchema(ma.Schema):
    """The estimate as the customer sees it (null until one was sent)."""

    status = ma.fields.String(required=True, validate=validate.OneOf(ESTIMATE_STATUSES))
    version = ma.fields.Integer(required=True)
    lines = ma.fields.List(ma.fields.Nested(EstimateLineSchema), required=True)
    subtotal = ma.fields.Nested(MoneySchema, required=True)
    tax = ma.fields.Nested(MoneySchema, required=True)
    total = ma.fields.Nested(MoneySchema, required=True)
    no_charge = ma.fields.Boolean(required=True)
    sent_at = ma.fields.DateTime(required=True, allow_none=True)
    decided_at = ma.fields.DateTime(required=True, allow_none=True)


class ServiceRequestDetailSchema(ServiceRequestSchema):
    customer = ma.fields.Nested(PersonSchema, required=True)
    technician = ma.fields.Nested(NameSchema, required=True, allow_none=True)
    appointment = ma.fields.Nested(AppointmentSchema, required=True, allow_none=True)
    updated_at = ma.fields.DateTime(required=True)
    estimate = ma.fields.Nested(EstimateSchema, required=True, allow_none=True)
    balance_due = ma.fields.Nested(
        MoneySchema,
        required=True,
        metadata={"description": "Invoiced minus paid (refunds added back); > 0 is owed."},
    )


class ServiceRequestPageSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(ServiceRequestSchema), required=True)
    page = ma.fields.Integer(required=True)
    per_page = ma.fields.Integer(required=True)
    total = ma.fields.Integer(required=True)


class ServiceRequestListArgs(Input):
    page = ma.fields.Integer(load_default=1, validate=validate.Range(min=1, max=100000))
    per_page = ma.fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    status = Text(validate=validate.OneOf(list(STATUSES)))


class HistoryEntrySchema(ma.Schema):
    status = ma.fields.String(required=True, validate=validate.OneOf(list(STATUSES)))
    status_label = ma.fields.String(required=True)
    note = ma.fields.String(required=True, allow_none=True)
    at = ma.fields.DateTime(required=True)


class StatusSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    reference = ma.fields.String(required=True)
    status = ma.fields.String(required=True, validate=validate.OneOf(list(STATUSES)))
    status_label = ma.fields.String(required=True)
    estimated_completion = ma.fields.DateTime(required=True, allow_none=True)
    technician = ma.fields.Nested(NameSchema, required=True, allow_none=True)
    history = ma.fields.List(ma.fields.Nested(HistoryEntrySchema), required=True)


class StatusMoveSchema(Input):
    status = Text(required=True, validate=validate.OneOf(list(STATUSES)))
    note = text(max_length=2000, allow_none=True)
    estimated_completion = Timestamp(allow_none=True)


class MessageSchema(ma.Schema):
    id = ma.fields.Integer(required=True)
    body = ma.fields.String(required=True)
    internal = ma.fields.Boolean(required=True, metadata={"description": "Staff-only note."})
    from_staff = ma.fields.Boolean(required=True)
    sender = ma.fields.Nested(NameSchema, required=True)
    created_at = ma.fields.DateTime(required=True)


class MessageListSchema(ma.Schema):
    items = ma.fields.List(ma.fields.Nested(MessageSchema), required=True)


class MessageCreateSchema(Input):
    body = required_text(5000)
    internal = Flag(load_default=False, metadata={"description": "Staff only."})


# ---------------------------------------------------------------- appointments


class SlotQuerySchema(Input):
    date = ma.fields.Date(required=True, metadata={"example": "2026-12-01"})


class SlotSchema(ma.Schema):
    start = ma.fields.DateTime(required=True)
    end = ma.fields.DateTime(required=True)
    available = ma.fields.Boolean(required=True)


class SlotDaySchema(ma.Schema):
    date = ma.fields.Date(required=True)
    slots = ma.fields.List(ma.fields.Nested(SlotSchema), required=True)


class AppointmentCreateSchema(Input):
    service_request_id = Id(required=True)
    start = Timestamp(required=True)


class AppointmentMoveSchema(Input):
    start = Timestamp(required=True)


class AppointmentCancelSchema(Input):
    reason = text(max_length=300, allow_none=True)
