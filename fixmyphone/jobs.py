"""Background jobs. Each takes ids, reloads in its own session, does one thing, logs failures.

Every job is idempotent: running it twice (a retry, the sweep plus the original enqueue, two
workers) has the effect of running it once.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app

from .database import outside_transaction
from .extensions import db
from .models import (
    Appointment,
    Notification,
    NotificationChannel,
    NotificationStatus,
    StripeEvent,
    StripeEventStatus,
    utcnow,
)
from .queue import get_queue, uses_rq
from .services import outbox, reminders
from .services.billing.webhooks import handle_event
from .services.notifications import rq_delivery_options

log = logging.getLogger(__name__)
SWEEP_LIMIT = 5000  # due rows one sweep hands on, in batches of NOTIFY_BATCH_SIZE


def _statements_commit_themselves() -> None:
    """Run the session's next statements outside a transaction, each committed on its own.

    A batch's claim must be durable before anything is sent (so that no other worker takes
    its rows) and so must its outcomes; without BEGIN and COMMIT each write is one round trip
    instead of three. Work the caller left in the session is committed first.
    """
    if db.session().in_transaction():
        db.session.commit()
    outside_transaction()


def deliver_due(ids: Optional[list[int]] = None, batch: Optional[int] = None) -> dict[str, int]:
    """Send a batch of due notifications: claim up to ``batch`` (``NOTIFY_BATCH_SIZE``) of them
    in one statement (only rows among ``ids`` when given), send them on one SMTP connection
    and write each row's outcome; returns the counts.

    A full batch first asks for another drain (of the rest of ``ids``, when given), so that a
    second worker takes the next batch while this one sends (without Redis, this call takes
    it next). A row whose failure may pass is drained again after its own backoff (by RQ's
    scheduler; without Redis, by the outbox sweep). A row's failure is written on the row,
    never raised.
    """
    config = current_app.config
    limit = batch or config["NOTIFY_BATCH_SIZE"]
    totals: Counter[str] = Counter()
    while True:
        _statements_commit_themselves()
        rows = outbox.claim_due(limit, ids)
        if ids is not None:
            claimed = {row.id for row in rows}
            ids = [row_id for row_id in ids if row_id not in claimed]
        more = len(rows) == limit and ids != []
        handed_on = more and drain_later(ids)
        deadline = time.monotonic() + config["OUTBOX_CLAIM_TIMEOUT_SECONDS"] / 2
        done = outbox.send_batch(rows, deadline)
        totals.update(done.counts())
        for wait, retry_ids in done.retries.items():
            drain_later(retry_ids, wait)
        if done.released:
            drain_later(None if ids is None else done.released)
        if not more or handed_on:
            return dict(totals)


def deliver_notification(notification_id: int) -> bool:
    """Send one row, as a batch of one (a job enqueued before deliveries went in batches, or a
    direct call); True when this call sent it."""
    return deliver_due([notification_id], batch=1)["sent"] == 1


def drain_later(ids: Optional[list[int]] = None, wait: int = 0) -> bool:
    """Enqueue a drain of due rows (of ``ids`` only, when given) on RQ, to run after ``wait``
    seconds; False when jobs run in-process or Redis is down (the outbox sweep sends them)."""
    app = current_app._get_current_object()
    if not uses_rq(app):
        return False
    try:
        queue = get_queue("default", app)
        if wait > 0:
            queue.enqueue_in(timedelta(seconds=wait), deliver_due, ids, **rq_delivery_options())
        else:
            queue.enqueue(deliver_due, ids, **rq_delivery_options())
    except Exception:
        log.warning("could not enqueue a delivery batch; left for the sweep", exc_info=True)
        return False
    return True


def sweep_outbox(now: Optional[datetime] = None) -> dict[str, int]:
    """Take back stale claims and re-deliver rows still pending after the grace period
    (Redis was down at commit, a worker died, an in-process retry is due)."""
    now = now or utcnow()
    max_attempts = current_app.config["NOTIFY_MAX_ATTEMPTS"]
    stale_before = now - timedelta(seconds=current_app.config["OUTBOX_CLAIM_TIMEOUT_SECONDS"])
    recovered = failed = 0
    stale = db.session.scalars(
        sa.select(Notification).where(
            Notification.status == NotificationStatus.SENDING,
            Notification.claimed_at < stale_before,
        )
    ).all()
    for row in stale:
        # The worker stopped mid-send: the message may have gone out, but at-least-once
        # delivery prefers a rare repeat to a lost notice.
        gave_up = row.attempts >= max_attempts
        values = {
            "status": NotificationStatus.FAILED if gave_up else NotificationStatus.PENDING,
            "claimed_at": None,
            "send_after": None,
            "last_error": "delivery interrupted (worker stopped mid-send)",
        }
        done = db.session.execute(
            sa.update(Notification)
            .where(Notification.id == row.id, Notification.status == NotificationStatus.SENDING)
            .where(Notification.claimed_at == row.claimed_at)
            .values(**values)
            .execution_options(synchronize_session=False)
        ).rowcount
        if done:
            failed += gave_up
            recovered += not gave_up
    db.session.commit()

    ready_before = now - timedelta(seconds=current_app.config["OUTBOX_GRACE_SECONDS"])
    due_ids = db.session.scalars(
        sa.select(Notification.id)
        .where(
            Notification.status == NotificationStatus.PENDING,
            Notification.channel != NotificationChannel.IN_APP,
            sa.func.coalesce(Notification.send_after, Notification.created_at) <= ready_before,
        )
        .order_by(Notification.id)
        .limit(SWEEP_LIMIT)
    ).all()
    db.session.commit()
    size = current_app.config["NOTIFY_BATCH_SIZE"]
    for start in range(0, len(due_ids), size):
        redeliver(list(due_ids[start : start + size]))
    return {"recovered": recovered, "failed": failed, "redelivered": len(due_ids)}


def redeliver(ids: list[int]) -> None:
    """Enqueue a batch of these rows on RQ; send it here when Redis is off or down."""
    if drain_later(ids):
        return
    try:
        deliver_due(ids)
    except Exception:
        log.exception("delivering notifications %s failed", ids)
        db.session.rollback()


def schedule_appointment_reminders(appointment_id: int) -> list[str]:
    """(Re)schedule an appointment's reminder jobs on RQ for its current start time."""
    ids = reminders.schedule_reminders(appointment_id)
    db.session.rollback()  # read-only in the database
    return ids


def send_appointment_reminder(appointment_id: int, offset_seconds: int, start_iso: str) -> int:
    """A scheduled reminder: sends only if the appointment still exists, is scheduled, starts
    when it did at scheduling time and this reminder is due (a stale job does nothing)."""
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or appointment.start.isoformat() != start_iso:
        return 0
    rows = reminders.send_appointment_reminder(appointment, timedelta(seconds=offset_seconds))
    db.session.commit()
    return len(rows)


def sweep_reminders() -> dict[str, int]:
    """Send due appointment and pickup reminders."""
    appointments = reminders.sweep_appointment_reminders()
    db.session.commit()
    pickups = reminders.sweep_pickup_reminders()
    db.session.commit()
    return {"appointment_reminders": appointments, "pickup_reminders": pickups}


def staff_checks() -> dict[str, int]:
    """Alert staff about overdue repairs and payments awaiting verification."""
    overdue = reminders.check_overdue_repairs()
    db.session.commit()
    payments = reminders.check_payments_awaiting_verification()
    db.session.commit()
    return {"overdue_alerts": overdue, "payment_alerts": payments}


# ---------------------------------------------------------------- Stripe webhook events


def process_stripe_event(event_id: str) -> None:
    """Apply one webhook event, then retry events that were waiting for it."""
    try:
        handle_event(event_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("stripe event %s failed; it stays 'received' for a retry", event_id)
        raise
    row = db.session.get(StripeEvent, event_id)
    if row is not None and row.status == StripeEventStatus.PROCESSED:
        replay_deferred_events()


def _apply_each(ids: list[str], what: str) -> int:
    """Apply stored events one by one, each in its own transaction; returns how many failed."""
    failed = 0
    for event_id in ids:
        try:
            handle_event(event_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            failed += 1
            log.exception("%s stripe event %s failed", what, event_id)
    return failed


def replay_deferred_events() -> int:
    """Try again every event that could not be matched to our rows yet; returns how many."""
    ids = db.session.scalars(
        sa.select(StripeEvent.id)
        .where(StripeEvent.status == StripeEventStatus.DEFERRED)
        .order_by(StripeEvent.received_at, StripeEvent.id)
    ).all()
    _apply_each(ids, "replaying")
    return len(ids)


def retry_unprocessed_events(older_than_seconds: int = 300) -> dict[str, int]:
    """A periodic sweep for events whose job was lost (Redis down, worker crash)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    ids = db.session.scalars(
        sa.select(StripeEvent.id).where(
            StripeEvent.status.in_(("received", "deferred")), StripeEvent.received_at < cutoff
        )
    ).all()
    return {"retried": len(ids), "failed": _apply_each(ids, "retrying")}


# The periodic jobs: (name, function, setting holding its interval in seconds).
PERIODIC_JOBS = (
    ("outbox", sweep_outbox, "SWEEP_OUTBOX_SECONDS"),
    ("reminders", sweep_reminders, "SWEEP_REMINDERS_SECONDS"),
    ("staff_checks", staff_checks, "SWEEP_STAFF_CHECKS_SECONDS"),
    ("stripe_events", retry_unprocessed_events, "SWEEP_STRIPE_EVENTS_SECONDS"),
)


def run_periodic() -> dict[str, dict]:
    """Run every periodic job once, here (the ``flask sweep`` command)."""
    results = {}
    for name, func, _setting in PERIODIC_JOBS:
        try:
            results[name] = func()
        except Exception:
            db.session.rollback()
            log.exception("periodic job %s failed", name)
            results[name] = {"error": 1}
    return results
