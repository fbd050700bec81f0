"""The notification outbox: rows written with the change that caused them, delivered by jobs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Optional

from flask import current_app, url_for

from ..extensions import db
from ..models import Notification, ServiceRequest, StatusChange, User
from ..queue import enqueue_after_commit

if TYPE_CHECKING:
    pass


def tracking_url(request: ServiceRequest) -> str:
    """The private link to a repair's tracking page (no login needed)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    try:
        path = url_for("public.track_token", token=request.tracking_token)
    except Exception:  # the public blueprint may not be registered (API-only tests)
        path = f"/track/{request.tracking_token}"
    return base + path


def channels_for(user: User, event: str) -> list[str]:
    """The channels a user wants for an event; staff get email and in-app."""
    profile = user.customer_profile
    if profile is None:
        return ["email", "in_app"]
    prefs = (profile.notification_prefs or {}).get(event, {})
    chosen = []
    if profile.notify_email and prefs.get("email", True):
        chosen.append("email")
    if profile.notify_sms and profile.phone and prefs.get("sms", True):
        chosen.append("sms")
    if profile.notify_in_app and prefs.get("in_app", True):
        chosen.append("in_app")
    return chosen


def notify(
    user: User,
    event: str,
    subject: str,
    body: str,
    *,
    dedup_key: str,
    service_request: Optional[ServiceRequest] = None,
    context: Optional[dict] = None,
    channels: Optional[Iterable[str]] = None,
) -> list[Notification]:
    """Write one outbox row per channel and deliver each after commit.

    ``dedup_key`` names the event occurrence; a row with the same key and channel is never
    written twice, so a retried caller cannot notify a customer twice.
    """
    from .. import jobs

    rows = []
    for channel in channels if channels is not None else channels_for(user, event):
        key = f"{dedup_key}:{channel}"
        if db.session.query(Notification.id).filter_by(dedup_key=key).first():
            continue
        row = Notification(
            user=user,
            service_request_id=service_request.id if service_request is not None else None,
            event=event,
            channel=channel,
            recipient=_recipient(user, channel),
            subject=subject[:200],
            body=body,
            context=context or {},
            dedup_key=key,
            status="sent" if channel == "in_app" else "pending",
        )
        db.session.add(row)
        rows.append(row)
    db.session.flush()
    for row in rows:
        if row.status == "pending":
            enqueue_after_commit(jobs.deliver_notification, row.id)
    return rows


def _recipient(user: User, channel: str) -> Optional[str]:
    if channel == "email":
        return user.email
    if channel == "sms":
        return user.customer_profile.phone if user.customer_profile else None
    return None


def status_changed(request: ServiceRequest, entry: StatusChange) -> list[Notification]:
    """Tell the customer their repair moved (public moves only, per the shop's policy)."""
    from ..workflow import label

    if not entry.is_public:
        return []
    db.session.flush()
    status = label(entry.to_status)
    note = f"\n\nNote from the shop: {entry.note}" if entry.note else ""
    body = (
        f"Hello {request.customer.first_name},\n\n"
        f"Your repair {request.reference} ({request.brand} {request.model}) is now: {status}."
        f"{note}\n\nTrack it here: {tracking_url(request)}\n"
    )
    return notify(
        request.customer,
        "status_changed",
        f"{request.reference}: {status}",
        body,
        dedup_key=f"status:{entry.id}",
        service_request=request,
        context={"status": entry.to_status, "reference": request.reference},
    )
