"""Customer profiles: contact details and notification preferences."""

from __future__ import annotations

from typing import Any

from ..domain_errors import ValidationFailed
from ..models import NOTIFICATION_CHANNELS, CustomerProfile, User
from . import audit, staff
from .accounts import phone_problem

TEXT_LIMITS = {
    "full_name": 120,
    "phone": 32,
    "address_line1": 200,
    "address_line2": 200,
    "city": 100,
    "postal_code": 20,
    "country": 2,
}
BOOL_FIELDS = ("notify_email", "notify_sms", "notify_in_app")
PROFILE_FIELDS = tuple(TEXT_LIMITS) + BOOL_FIELDS


def profile_of(user: User) -> CustomerProfile:
    """The user's customer profile, created empty when missing."""
    if user.customer_profile is None:
        user.customer_profile = CustomerProfile()
    return user.customer_profile


def update_profile(user: User, actor: User, **changes: Any) -> User:
    """Apply the given fields (unknown names are ignored); validate all before changing any.

    Only someone who may manage the account (``staff.may_manage``) may change it."""
    staff.check_may_manage(actor, user)
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for name, value in changes.items():
        if name not in PROFILE_FIELDS:
            continue
        if name in BOOL_FIELDS:
            if not isinstance(value, bool):
                errors[name] = ["Must be true or false."]
            else:
                clean[name] = value
            continue
        if value is not None and not isinstance(value, str):
            errors[name] = ["Must be text."]
            continue
        value = (value or "").strip() or None
        if value and len(value) > TEXT_LIMITS[name]:
            errors[name] = [f"At most {TEXT_LIMITS[name]} characters."]
        elif name == "full_name" and not value:
            errors[name] = ["Tell us your name."]
        elif name == "phone" and (problem := phone_problem(value)):
            errors[name] = [problem]
        elif name == "country" and value and not (len(value) == 2 and value.isalpha()):
            errors[name] = ["Use the two-letter country code, e.g. US or GB."]
        else:
            clean[name] = value.upper() if name == "country" and value else value
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)
    profile = profile_of(user)
    before = {name: _current(user, profile, name) for name in clean}
    for name, value in clean.items():
        setattr(user if name == "full_name" else profile, name, value)
    if clean:
        audit.record(actor, "profile_updated", user, before=before, after=clean)
    return user


def _current(user: User, profile: CustomerProfile, name: str) -> Any:
    return getattr(user if name == "full_name" else profile, name)


def profile_dict(user: User) -> dict[str, Any]:
    """The whole profile as the API and pages show it."""
    profile = profile_of(user)
    data = {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "role": user.role,
    }
    for name in PROFILE_FIELDS:
        if name != "full_name":
            data[name] = getattr(profile, name)
    data["created_at"] = user.created_at
    return data


NOTIFICATION_KINDS = {
    "status_changed": "Repair status changes",
    "quote_sent": "A quote is ready",
    "message_received": "A message from the shop",
    "appointment_booked": "Appointment booked or changed",
    "appointment_reminder": "Appointment reminders",
    "payment_received": "Payment received",
}


def update_notification_prefs(user: User, actor: User, prefs: dict[str, dict[str, bool]]) -> User:
    """Replace the per-kind channel choices, e.g. {"quote_sent": {"sms": False}}."""
    clean: dict[str, dict[str, bool]] = {}
    for kind, channels in (prefs or {}).items():
        if kind not in NOTIFICATION_KINDS or not isinstance(channels, dict):
            raise ValidationFailed("Unknown notification kind.", fields={kind: ["Unknown kind."]})
        for channel, wanted in channels.items():
            if channel not in NOTIFICATION_CHANNELS or not isinstance(wanted, bool):
                raise ValidationFailed(
                    "Unknown notification channel.", fields={kind: [f"Bad channel {channel}."]}
                )
        clean[kind] = dict(channels)
    profile = profile_of(user)
    before = dict(profile.notification_prefs or {})
    # A new dict, so the JSON column sees the change.
    profile.notification_prefs = {**before, **clean}
    if clean != {k: before.get(k) for k in clean}:
        audit.record(actor, "notification_prefs_updated", user, before=before, after=clean)
    return user
