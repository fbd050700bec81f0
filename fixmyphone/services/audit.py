"""The audit log: who did what to which object."""

from __future__ import annotations

from typing import Any, Optional

from flask import has_request_context, request

from ..extensions import db
from ..models import AuditLog, User


def record(
    actor: Optional[User],
    action: str,
    obj: Any,
    *,
    before: Optional[dict] = None,
    after: Optional[dict] = None,
    object_type: Optional[str] = None,
    object_id: Any = None,
) -> AuditLog:
    """Stage an audit entry for ``action`` on ``obj`` (a model instance, or type/id given)."""
    if obj is not None:
        object_type = object_type or type(obj).__name__
        object_id = object_id if object_id is not None else getattr(obj, "id", None)
    entry = AuditLog(
        actor=actor if actor is not None and getattr(actor, "id", None) else None,
        action=action,
        object_type=object_type or "unknown",
        object_id=str(object_id) if object_id is not None else None,
        before=_jsonable(before),
        after=_jsonable(after),
        ip=request.remote_addr if has_request_context() else None,
    )
    db.session.add(entry)
    return entry


def on_repair_moved(
    request: Any,
    *,
    actor: Optional[User],
    previous: str,
    target: str,
    note: Optional[str],
    **_: object,
) -> None:
    """Every status move is in the audit log, with the note that came with it."""
    record(
        actor,
        "status_changed",
        request,
        before={"status": previous},
        after={"status": target, "note": note},
    )


def _jsonable(values: Optional[dict]) -> Optional[dict]:
    if values is None:
        return None
    out = {}
    for key, value in values.items():
        if isinstance(value, (str, int, float, bool)) or value is None:
            out[key] = value
        elif isinstance(value, (list, dict)):
            out[key] = value
        else:
            out[key] = str(value)
    return out
