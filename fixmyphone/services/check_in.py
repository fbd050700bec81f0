"""Check-in at the counter: the intake checklist filled in when a device is handed over, and
where the device is kept in the shop. Both are audited."""

from __future__ import annotations

from typing import Optional

from ..domain_errors import ValidationFailed
from ..models import ServiceRequest, User, utcnow
from . import audit

INTAKE_PARTS = ("power", "screen", "cameras", "buttons")
INTAKE_STATES = ("ok", "faulty", "untested")


def record_intake(
    request: ServiceRequest,
    actor: User,
    *,
    checks: dict[str, str],
    water_damage: bool,
    passcode_given: bool,
    notes: Optional[str] = None,
) -> dict:
    """Store the intake checklist filled in when the device is handed over."""
    errors = {
        key: [f"Choose one of: {', '.join(INTAKE_STATES)}."]
        for key in INTAKE_PARTS
        if checks.get(key) not in INTAKE_STATES
    }
    if errors:
        raise ValidationFailed("Fill in every check.", fields=errors)
    checklist = {key: checks[key] for key in INTAKE_PARTS}
    checklist.update(
        water_damage=bool(water_damage),
        passcode_given=bool(passcode_given),
        notes=(notes or "").strip()[:1000] or None,
        recorded_at=utcnow().isoformat(),
        recorded_by=actor.id,
    )
    before = request.intake_checklist
    request.intake_checklist = checklist
    audit.record(actor, "intake_recorded", request, before=before, after=checklist)
    return checklist


def set_location(request: ServiceRequest, location: str, actor: User) -> None:
    """Say where the device physically is now (shelf, bench, safe); every move is audited."""
    location = (location or "").strip()
    if not location or len(location) > 50:
        raise ValidationFailed(
            "Say where the device is (at most 50 characters).", fields={"location": ["Required."]}
        )
    before = {"location": request.location}
    request.location = location
    audit.record(actor, "location_changed", request, before=before, after={"location": location})
