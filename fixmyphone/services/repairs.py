"""Creating repair requests and the rules about their fields."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa

from ..extensions import db
from ..models import DEVICE_TYPES, ServiceRequest, User, new_reference
from ..workflow import record_initial
from . import audit, notifications
from .errors import NotFound, ValidationFailed

IMEI_MESSAGE = "An IMEI is 15 digits with a valid check digit (dial *#06# to see it)."


def luhn_valid(digits: str) -> bool:
    """True when a digit string passes the Luhn check."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch)
        if i % 2 == 1:
            n *= 2
            if n > 9:
                n -= 9
        total += n
    return total % 10 == 0


def normalise_imei(value: Optional[str]) -> Optional[str]:
    """Return the IMEI as 15 digits (spaces and dashes dropped), None if empty; raise if wrong."""
    if value is None:
        return None
    cleaned = value.replace(" ", "").replace("-", "")
    if cleaned == "":
        return None
    if len(cleaned) != 15 or not cleaned.isdigit() or not luhn_valid(cleaned):
        raise ValidationFailed(IMEI_MESSAGE, fields={"imei": [IMEI_MESSAGE]})
    return cleaned


def create_service_request(
    customer: User,
    *,
    device_type: str,
    brand: str,
    model: str,
    issue_description: str,
    imei: Optional[str] = None,
    preferred_time: Optional[datetime] = None,
    actor: Optional[User] = None,
) -> ServiceRequest:
    """Open a new repair request in ``pending`` and tell the customer its reference."""
    errors: dict[str, list[str]] = {}
    if device_type not in DEVICE_TYPES:
        errors["device_type"] = [f"Choose one of: {', '.join(DEVICE_TYPES)}."]
    for name, value, limit in (("brand", brand, 60), ("model", model, 80)):
        if not (value or "").strip():
            errors[name] = ["This field is required."]
        elif len(value.strip()) > limit:
            errors[name] = [f"At most {limit} characters."]
    if not (issue_description or "").strip():
        errors["issue_description"] = ["Tell us what is wrong with the device."]
    elif len(issue_description) > 5000:
        errors["issue_description"] = ["At most 5000 characters."]
    try:
        imei = normalise_imei(imei)
    except ValidationFailed as exc:
        errors.update(exc.fields or {})
    if preferred_time is not None and preferred_time.tzinfo is None:
        errors["preferred_time"] = ["Give the time with its UTC offset."]
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)

    request = ServiceRequest(
        reference=unique_reference(),
        customer=customer,
        device_type=device_type,
        brand=brand.strip(),
        model=model.strip(),
        imei=imei,
        issue_description=issue_description.strip(),
        preferred_time=preferred_time,
    )
    db.session.add(request)
    record_initial(request, actor or customer)
    db.session.flush()
    audit.record(actor or customer, "service_request_created", request)
    notifications.notify(
        customer,
        "request_received",
        f"We received your repair request {request.reference}",
        (
            f"Hello {customer.first_name},\n\nThanks for choosing us. Your reference is "
            f"{request.reference}. Book a drop-off slot or follow the repair here: "
            f"{notifications.tracking_url(request)}\n"
        ),
        dedup_key=f"request_received:{request.id}",
        service_request=request,
    )
    return request


def unique_reference() -> str:
    """A reference not used yet (collisions are rare; try again when one happens)."""
    for _ in range(10):
        ref = new_reference()
        exists = db.session.scalar(
            sa.select(ServiceRequest.id).where(ServiceRequest.reference == ref)
        )
        if not exists:
            return ref
    raise RuntimeError("could not find a free reference")


def get_for(user: User, request_id: int) -> ServiceRequest:
    """Load a request the user may see: staff see all, customers only their own (else 404)."""
    request = db.session.get(ServiceRequest, request_id)
    if request is None or not can_view(user, request):
        raise NotFound("No such service request.")
    return request


def can_view(user: User, request: ServiceRequest) -> bool:
    """Customers see their own requests; technicians, admins and super admins see all."""
    if user.is_staff:
        return True
    return request.customer_id == user.id


def can_move(user: User, request: ServiceRequest) -> bool:
    """Admins move any request; a technician only the ones assigned to them."""
    if user.is_admin:
        return True
    return user.role == "technician" and request.technician_id == user.id
