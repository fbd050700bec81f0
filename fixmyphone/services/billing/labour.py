"""Bench labour the technician records on a repair: charged on the next invoice (free on a
no-charge repair), replacing the labour the estimate had guessed."""

from __future__ import annotations

from typing import Optional

from flask import current_app

from ...domain_errors import Conflict, Forbidden, ValidationFailed
from ...extensions import db
from ...formatting import format_money
from ...models import LabourEntry, RepairStatus, Role, ServiceRequest, User
from .. import audit
from ..repairs import may_move
from . import totals
from .amounts import MAX_AMOUNT, is_amount


def record_labour(
    request: ServiceRequest,
    *,
    description: str,
    actor: User,
    minutes: int = 0,
    amount: Optional[int] = None,
) -> LabourEntry:
    """Log bench work on a repair; it is charged on the next invoice (free on warranty).

    Without an ``amount`` the time is charged at the shop's hourly ``LABOUR_RATE``.
    """
    if actor is None or not actor.is_staff or not may_move(actor, request):
        raise Forbidden("Only the assigned technician or an admin records labour.")
    errors: dict[str, list[str]] = {}
    if not (description or "").strip():
        errors["description"] = ["Say what was done."]
    elif len(description.strip()) > 300:
        errors["description"] = ["At most 300 characters."]
    if not is_amount(minutes, allow_zero=True) or minutes > 100 * 60:
        errors["minutes"] = ["Give the time worked (at most 100 hours)."]
    elif amount is None:
        if minutes <= 0:
            errors["minutes"] = ["Give the time worked, or an amount."]
        rate = int(current_app.config.get("LABOUR_RATE") or 0)
        amount = totals.line_net("labour", 1, rate, minutes) if minutes > 0 else 0
    if amount is not None and (not is_amount(amount, allow_zero=True) or amount > MAX_AMOUNT):
        errors["amount"] = ["Must be zero or a positive amount."]
    if request.status in (RepairStatus.COMPLETED, RepairStatus.CANCELED, RepairStatus.CLOSED):
        raise Conflict(f"{request.reference} is {request.status}: no more labour on it.")
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)
    entry = LabourEntry(
        service_request=request,
        technician=actor if actor.role == Role.TECHNICIAN else request.technician,
        description=description.strip(),
        minutes=minutes,
        amount=amount,
    )
    db.session.add(entry)
    db.session.flush()
    audit.record(
        actor,
        "labour_logged",
        request,
        after={"amount": format_money(amount), "minutes": minutes},
    )
    return entry
