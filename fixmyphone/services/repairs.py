"""Creating repair requests and the rules about their fields."""

from __future__ import annotations

from datetime import datetime
from typing import Optional

import sqlalchemy as sa

from ..domain_errors import Conflict, Forbidden, NotFound, ValidationFailed
from ..extensions import db
from ..models import (
    DEVICE_TYPES,
    Role,
    ServiceRequest,
    StatusChange,
    User,
    new_reference,
)
from ..workflow import label, move_status, record_initial
from . import audit, notifications

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


def _checked_device(
    device_type: str,
    brand: str,
    model: str,
    imei: Optional[str],
    issue_description: str,
    errors: dict[str, list[str]],
) -> dict:
    """The device fields, trimmed and with the IMEI normalised; raise ValidationFailed naming
    every wrong field (including those already in ``errors``)."""
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
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)
    return {
        "device_type": device_type,
        "brand": brand.strip(),
        "model": model.strip(),
        "imei": imei,
        "issue_description": issue_description.strip(),
    }


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
    if preferred_time is not None and preferred_time.tzinfo is None:
        errors["preferred_time"] = ["Give the time with its UTC offset."]
    device = _checked_device(device_type, brand, model, imei, issue_description, errors)

    request = ServiceRequest(
        reference=unique_reference(),
        customer=customer,
        preferred_time=preferred_time,
        **device,
    )
    db.session.add(request)
    record_initial(request, actor or customer)
    db.session.flush()
    audit.record(actor or customer, "service_request_created", request)
    notifications.notify(
        customer,
        "request_received",
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


# Who sees which repairs, once for the back office, the customer site and the API: admins and
# super admins see every repair, a technician the repairs assigned to them, a customer their own.
SCOPE_COLUMNS = ("customer_id", "technician_id")
_NOTHING = "nothing"


def scope(user: Optional[User]) -> Optional[str]:
    """The ServiceRequest column that must equal ``user.id`` for ``user`` to see a repair, or
    None when they see all of them (``_NOTHING`` for nobody: anonymous or inactive)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.active:
        return _NOTHING
    if user.is_admin:
        return None
    if user.role == Role.TECHNICIAN:
        return "technician_id"
    if user.role == Role.CUSTOMER:
        return "customer_id"
    return _NOTHING


def get_for(user: User, request_id: int) -> ServiceRequest:
    """Load a request the user may see (``can_view``), else NotFound (404)."""
    request = db.session.get(ServiceRequest, request_id) if request_id else None
    if request is None or not can_view(user, request):
        raise NotFound("No such service request.")
    return request


def _status_statement(scope_column: Optional[str]) -> sa.Select:
    technician = sa.orm.aliased(User, name="technician")
    stmt = (
        sa.select(
            ServiceRequest.id,
            ServiceRequest.reference,
            ServiceRequest.status,
            ServiceRequest.estimated_completion,
            technician.id.label("technician_id"),
            technician.full_name,
            StatusChange.to_status,
            StatusChange.note,
            StatusChange.created_at,
        )
        .outerjoin(technician, technician.id == ServiceRequest.technician_id)
        .outerjoin(
            StatusChange,
            sa.and_(
                StatusChange.service_request_id == ServiceRequest.id,
                StatusChange.is_public.is_(True),
            ),
        )
        .where(ServiceRequest.id == sa.bindparam("request_id"))
        .order_by(StatusChange.id)
    )
    if scope_column is not None:
        stmt = stmt.where(getattr(ServiceRequest, scope_column) == sa.bindparam("scope_user_id"))
    return stmt


# Built once per kind of scope: apps poll the status, and building the aliased join costs more
# than running it. ``scope`` says which one applies to a user.
STATUS_BY_SCOPE = {column: _status_statement(column) for column in (None, *SCOPE_COLUMNS)}


def status_view(user: User, request_id: int, connection: Optional[sa.Connection] = None) -> dict:
    """Where a repair is, as its customer sees it: status, estimate, the technician's first name
    and the public history, oldest first. 404 unless ``user`` (a User or a tokens.Caller) may
    see the request. On ``connection`` if given, else on the session's.

    The hottest read of the API (apps poll it), so it is one statement over plain columns:
    the request, its technician and its public history joined, no ORM objects.
    """
    # can_view's rule (``scope``), prebuilt per kind. Plain rows, so the session's connection
    # runs it without the ORM's machinery.
    column = scope(user)
    if column is _NOTHING:
        raise NotFound("No such service request.")
    params = {"request_id": request_id}
    if column is not None:
        params["scope_user_id"] = user.id
    if connection is None:
        connection = db.session.connection()
    rows = connection.execute(STATUS_BY_SCOPE[column], params).all()
    if not rows:
        raise NotFound("No such service request.")
    first = rows[0]
    return {
        "id": first.id,
        "reference": first.reference,
        "status": first.status,
        "status_label": label(first.status),
        "estimated_completion": first.estimated_completion,
        "technician": (
            {"name": (first.full_name or "").split(" ")[0]}
            if first.technician_id is not None
            else None
        ),
        "history": [
            {
                "status": row.to_status,
                "status_label": label(row.to_status),
                "note": row.note,
                "at": row.created_at,
            }
            for row in rows
            if row.to_status is not None
        ],
    }


def can_view(user: User, request: ServiceRequest) -> bool:
    """Whether ``user`` may see (and act on) a request: the rule of ``scope``."""
    column = scope(user)
    if column is _NOTHING:
        return False
    return column is None or getattr(request, column) == user.id


def visible_to(user: User) -> sa.ColumnElement[bool]:
    """``can_view`` as SQL, for queries over many requests."""
    column = scope(user)
    if column is _NOTHING:
        return sa.false()
    return sa.true() if column is None else getattr(ServiceRequest, column) == user.id


def customer_visible(user: User, customer: User) -> bool:
    """Whether ``user`` may see a customer's account: themself; admins every customer; a
    technician the customers of the repairs they may see (``visible_to``)."""
    if customer.id == user.id:
        return True
    if customer.role != Role.CUSTOMER:
        return False
    column = scope(user)
    if column is None:
        return True
    if column != "technician_id":
        return False
    return bool(
        db.session.scalar(
            sa.select(sa.literal(1))
            .where(ServiceRequest.customer_id == customer.id, visible_to(user))
            .limit(1)
        )
    )


def may_move(user: User, request: ServiceRequest) -> bool:
    """May ``user`` move this repair? Admins any; a technician only the ones assigned to them.

    (Whether the move itself is legal is ``workflow.is_legal_move``.)
    """
    if user.is_admin:
        return True
    return user.role == Role.TECHNICIAN and request.technician_id == user.id


def assign_technician(request: ServiceRequest, technician: Optional[User], actor: User) -> None:
    """Give a repair to a technician (or take it back with None)."""
    if technician is not None and (technician.role != Role.TECHNICIAN or not technician.active):
        raise Conflict(f"{technician.full_name} is not an active technician.")
    before = {"technician_id": request.technician_id}
    request.technician = technician
    audit.record(
        actor,
        "technician_assigned",
        request,
        before=before,
        after={"technician_id": technician.id if technician else None},
    )


def update_device(
    request: ServiceRequest,
    actor: User,
    *,
    device_type: str,
    brand: str,
    model: str,
    imei: Optional[str],
    issue_description: str,
) -> bool:
    """Correct the device details staff took down (a typo in the IMEI, the exact model).

    The assigned technician or an admin may; the same rules as when the request was opened;
    every change is audited. True when something changed.
    """
    if not may_move(actor, request):
        raise Forbidden("Only the assigned technician or an admin can change the device details.")
    device = _checked_device(device_type, brand, model, imei, issue_description, {})
    before = {k: getattr(request, k) for k in device if getattr(request, k) != device[k]}
    if not before:
        return False
    for key in before:
        setattr(request, key, device[key])
    audit.record(
        actor,
        "device_details_changed",
        request,
        before=before,
        after={k: device[k] for k in before},
    )
    return True


def move_by(
    actor: User,
    request: ServiceRequest,
    target: str,
    note: Optional[str] = None,
    *,
    estimated_completion: Optional[datetime] = None,
    public: bool = True,
):
    """A staff member moves a repair: only the assigned technician or an admin may."""
    if not may_move(actor, request):
        raise Forbidden("Only the assigned technician or an admin can move this repair.")
    return move_status(
        request, target, actor, note, estimated_completion=estimated_completion, public=public
    )
