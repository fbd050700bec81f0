"""Warranty: a finished repair is covered for WARRANTY_DAYS; a claim reopens it at no charge."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Optional

from flask import current_app

from ..domain_errors import Conflict
from ..models import RepairStatus, ServiceRequest, User, utcnow
from . import audit
from .repairs import create_service_request

COVERED_STATUSES = (RepairStatus.COMPLETED, RepairStatus.CLOSED)


def start_warranty(request: ServiceRequest, when: Optional[datetime] = None) -> None:
    """Start the warranty period at pickup/completion (once; later calls change nothing)."""
    if request.warranty_until is None:
        days = current_app.config["WARRANTY_DAYS"]
        request.warranty_until = (when or utcnow()) + timedelta(days=days)


def on_repair_moved(request: ServiceRequest, *, target: str, when: datetime, **_: object) -> None:
    """A repair's warranty starts when it is completed."""
    if target == RepairStatus.COMPLETED:
        start_warranty(request, when)


def under_warranty(request: ServiceRequest, now: Optional[datetime] = None) -> bool:
    """True while a finished repair is still covered."""
    return (
        request.status in COVERED_STATUSES
        and request.warranty_until is not None
        and (now or utcnow()) <= request.warranty_until
    )


def open_claim(original: ServiceRequest, issue_description: str, actor: User) -> ServiceRequest:
    """Open a warranty rework: a new request linked to the original, labour and parts free."""
    if original.is_warranty_claim and original.warranty_of is not None:
        original = original.warranty_of  # a rework of a rework counts against the first repair
    if not under_warranty(original):
        raise Conflict(f"{original.reference} is not under warranty.")
    claim = create_service_request(
        original.customer,
        device_type=original.device_type,
        brand=original.brand,
        model=original.model,
        imei=original.imei,
        issue_description=issue_description,
        actor=actor,
    )
    claim.warranty_of = original
    # Warranty rework is free by default: the decision is the claim's opener's, with its reason
    # (an admin may take it back on the repair page when the fault is not covered).
    claim.no_charge = True
    claim.no_charge_reason = f"Warranty rework of {original.reference}"
    claim.no_charge_by_id = actor.id
    claim.no_charge_at = utcnow()
    audit.record(
        actor,
        "warranty_claim_opened",
        claim,
        after={"warranty_of": original.reference, "no_charge": True},
    )
    return claim
