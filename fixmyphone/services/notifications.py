"""The notification outbox: rows written with the change that caused them, delivered by jobs.

A row is written in the caller's transaction (so a rolled-back change notifies nobody) and
its delivery job is enqueued only after the commit. ``dedup_key`` is unique: the same event
occurrence never produces two rows per channel, and the delivery job claims a row atomically
before sending, so a customer never gets the same message twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError

from .. import links
from ..domain_errors import Conflict, NotFound
from ..extensions import db
from ..models import (
    ADMIN_ROLES,
    Notification,
    NotificationChannel,
    NotificationStatus,
    ServiceRequest,
    ShopSettings,
    StatusChange,
    User,
    utcnow,
)
from ..queue import enqueue_after_commit, uses_rq
from ..workflow import label
from . import audit, secret_links

# Events whose customer preferences are shared with another kind (the profile page offers
# one switch for "Appointment booked or changed").
PREFERENCE_KIND = {
    "appointment_moved": "appointment_booked",
    "appointment_canceled": "appointment_booked",
    "pickup_reminder": "status_changed",
}


def retry_intervals() -> list[int]:
    """Seconds before each retry, one per retry (``NOTIFY_MAX_ATTEMPTS`` - 1 of them)."""
    intervals = current_app.config["NOTIFY_RETRY_INTERVALS"] or [60]
    retries = max(current_app.config["NOTIFY_MAX_ATTEMPTS"] - 1, 0)
    return [intervals[min(i, len(intervals) - 1)] for i in range(retries)]


def channels_for(user: User, event: str) -> list[str]:
    """The channels a user wants for an event; staff get email and in-app."""
    profile = user.customer_profile
    if profile is None:
        return [NotificationChannel.EMAIL, NotificationChannel.IN_APP]
    prefs = profile.notification_prefs or {}
    kind_prefs = prefs.get(event) or prefs.get(PREFERENCE_KIND.get(event, event)) or {}
    chosen = []
    if profile.notify_email and kind_prefs.get(NotificationChannel.EMAIL, True):
        chosen.append(NotificationChannel.EMAIL)
    if profile.notify_sms and profile.phone and kind_prefs.get(NotificationChannel.SMS, True):
        chosen.append(NotificationChannel.SMS)
    if profile.notify_in_app and kind_prefs.get(NotificationChannel.IN_APP, True):
        chosen.append(NotificationChannel.IN_APP)
    return chosen


def compose(
    event: str,
    user: User,
    service_request: Optional[ServiceRequest] = None,
    context: Optional[dict] = None,
    values: Optional[dict] = None,
) -> tuple[str, str]:
    """The subject and text of a message, in the words of ``email/messages/<event>.txt``.

    Its ``subject`` and ``body`` blocks see the recipient (``user``), the repair (``request``)
    and its ``tracking_url``, the row's context (``ctx``), each of ``values`` by name, and
    what every template sees (``shop``, the filters).
    """
    template = current_app.jinja_env.get_template(f"email/messages/{event}.txt")
    names: dict[str, Any] = {
        **(values or {}),
        "user": user,
        "request": service_request,
        "tracking_url": links.tracking_url(service_request) if service_request else None,
        "ctx": context or {},
    }
    current_app.update_template_context(names)
    page = template.new_context(names)
    return (
        "".join(template.blocks["subject"](page)),
        "".join(template.blocks["body"](page)),
    )


def notify(
    user: User,
    event: str,
    subject: Optional[str] = None,
    body: Optional[str] = None,
    *,
    dedup_key: str,
    service_request: Optional[ServiceRequest] = None,
    context: Optional[dict] = None,
    channels: Optional[Iterable[str]] = None,
    values: Optional[dict] = None,
) -> list[Notification]:
    """Write one outbox row per channel and deliver each after commit.

    The words come from the event's template (``compose``): the caller passes ``context``,
    kept with the row for the e-mail templates, and ``values`` for the words only. (Words
    given as ``subject`` and ``body`` are the outbox's own tests' business: no service writes
    them, tests/notifications/test_messages.py checks.)
    ``dedup_key`` names the event occurrence; a row with the same key and channel is never
    written twice, so a retried caller cannot notify a customer twice. Reset and tracking
    links in the text are stored as placeholders and made live when the message is sent
    (see ``secret_links``); the subject is kept to one line, as an email header must be.
    """
    if subject is None or body is None:
        subject, body = compose(event, user, service_request, context, values)
    subject = header_text(secret_links.protect(subject, service_request))[:200]
    body = secret_links.protect(body, service_request)
    rows = []
    for channel in channels if channels is not None else channels_for(user, event):
        key = f"{dedup_key}:{channel}"[:200]
        if _already_written(key):
            continue
        row = Notification(
            user=user,
            service_request_id=service_request.id if service_request is not None else None,
            event=event,
            channel=channel,
            recipient=_recipient(user, channel),
            subject=subject,
            body=body,
            context=_protected_context(context, service_request),
            dedup_key=key,
            status=NotificationStatus.SENT
            if channel == NotificationChannel.IN_APP
            else NotificationStatus.PENDING,
        )
        row.sent_at = utcnow() if channel == NotificationChannel.IN_APP else None
        try:
            # A concurrent writer of the same key loses here without spoiling the caller's
            # transaction: the savepoint rolls back alone.
            with db.session.begin_nested():
                db.session.add(row)
                db.session.flush()
        except IntegrityError:
            continue
        rows.append(row)
    for row in rows:
        if row.status == NotificationStatus.PENDING:
            enqueue_delivery_after_commit(row.id)
    return rows


def _protected_context(context: Optional[dict], service_request) -> dict:
    """The row's context with secret links in its text values replaced by placeholders."""
    return {
        key: secret_links.protect(value, service_request) if isinstance(value, str) else value
        for key, value in (context or {}).items()
    }


def header_text(value: str) -> str:
    """One line of text for a mail header: line breaks (and other control characters) from
    data such as a part name become spaces, so they can never start a new header."""
    value = value or ""
    if not value.isprintable():
        value = "".join(ch if ch.isprintable() else " " for ch in value)
    return " ".join(value.split())


_STAGED_DELIVERIES = "fixmyphone_deliveries"  # session.info: (transaction, its row ids)


def enqueue_delivery_after_commit(notification_id: int) -> None:
    """Deliver a row once the transaction commits, in one delivery batch per transaction.

    On RQ the batch is a drain of every due row (this transaction's among them, so rows
    written by many requests at once go out together); in-process it is this transaction's
    rows only (a web request sends its own messages, not a backlog). Rows whose batch could
    not be enqueued (Redis down at the commit) are sent by the outbox sweep.
    """
    session = db.session()
    if not session.in_transaction():
        session.begin()
    transaction = session.get_transaction()
    staged = session.info.get(_STAGED_DELIVERIES)
    if staged is None or staged[0] is not transaction:
        staged = (transaction, [])
        session.info[_STAGED_DELIVERIES] = staged
        # The in-process batch reads its list when it runs, after the commit: rows this
        # transaction writes later join it.
        args = () if uses_rq(current_app) else (staged[1],)
        enqueue_after_commit("fixmyphone.jobs.deliver_due", *args, **rq_delivery_options())
    staged[1].append(notification_id)


def rq_delivery_options() -> dict:
    """RQ enqueue options for a delivery batch: no result kept (the outcome is on the rows;
    storing one per job costs Redis writes and memory for nothing), and the time the batch
    may take (it stops sending at half the claim timeout, before RQ would stop it)."""
    return {"result_ttl": 0, "job_timeout": current_app.config["OUTBOX_CLAIM_TIMEOUT_SECONDS"]}


def _already_written(dedup_key: str) -> bool:
    """A row for this event occurrence and channel exists (the unique key still guards races)."""
    found = db.session.scalar(
        sa.select(Notification.id).where(Notification.dedup_key == dedup_key).limit(1)
    )
    return found is not None


def _recipient(user: User, channel: str) -> Optional[str]:
    if channel == NotificationChannel.EMAIL:
        return user.email
    if channel == NotificationChannel.SMS:
        return user.customer_profile.phone if user.customer_profile else None
    return None


def notify_statuses() -> set[str]:
    """Statuses that notify the customer; an empty set means every status does."""
    shop = db.session.scalar(sa.select(ShopSettings).limit(1))
    if shop is not None and shop.notify_statuses:
        return set(shop.notify_statuses)
    return set(current_app.config["NOTIFY_STATUSES"])


def status_notifies(status: str) -> bool:
    """The shop's policy: does a move to ``status`` notify the customer?"""
    chosen = notify_statuses()
    return not chosen or status in chosen


def on_repair_moved(
    request: ServiceRequest, *, entry: StatusChange, notify: bool, **_: object
) -> None:
    """The customer hears of a move (unless the mover asked for silence)."""
    if notify:
        status_changed(request, entry)


def status_changed(request: ServiceRequest, entry: StatusChange) -> list[Notification]:
    """Tell the customer their repair moved (public moves only, per the shop's policy)."""
    if not entry.is_public or not status_notifies(entry.to_status):
        return []
    db.session.flush()
    return notify(
        request.customer,
        "status_changed",
        dedup_key=f"status:{entry.id}",
        service_request=request,
        context={
            "status": entry.to_status,
            "status_label": label(entry.to_status),
            "reference": request.reference,
            "note": entry.note,
        },
    )


def active_admins() -> list[User]:
    """Every active admin and super admin."""
    return list(
        db.session.scalars(
            sa.select(User).where(User.role.in_(ADMIN_ROLES), User.active).order_by(User.id)
        )
    )


def alert_staff(
    event: str,
    subject: Optional[str] = None,
    body: Optional[str] = None,
    *,
    dedup_key: str,
    service_request: Optional[ServiceRequest] = None,
    technician: Optional[User] = None,
    channels: Iterable[str] = (NotificationChannel.IN_APP, NotificationChannel.EMAIL),
    context: Optional[dict] = None,
    values: Optional[dict] = None,
) -> list[Notification]:
    """Alert all active admins and, when given, a technician; one row per person and channel
    (the words from the event's template, as for ``notify``)."""
    recipients = active_admins()
    if technician is not None and technician.active and technician not in recipients:
        recipients.append(technician)
    ctx = {"audience": "staff", **(context or {})}
    if service_request is not None:
        ctx.setdefault("reference", service_request.reference)
    rows: list[Notification] = []
    for user in recipients:
        rows += notify(
            user,
            event,
            subject,
            body,
            dedup_key=f"{dedup_key}:u{user.id}",
            service_request=service_request,
            context=ctx,
            channels=list(channels),
            values=values,
        )
    return rows


def resend(notification_id: int, actor: User) -> Notification:
    """Put a failed notification back in the outbox (audit-logged); delivered after commit."""
    row = db.session.get(Notification, notification_id)
    if row is None:
        raise NotFound("No such notification.")
    if row.status != NotificationStatus.FAILED:
        raise Conflict("Only a failed notification can be sent again.")
    before = {"status": row.status, "attempts": row.attempts, "last_error": row.last_error}
    row.status = NotificationStatus.PENDING
    row.attempts = 0
    row.send_after = None
    row.claimed_at = None
    audit.record(
        actor,
        "notification_resent",
        row,
        before=before,
        after={"status": NotificationStatus.PENDING},
    )
    db.session.flush()
    enqueue_delivery_after_commit(row.id)
    return row
