"""Background jobs. Each takes ids, reloads in its own session, does one thing, logs failures.

Every job is idempotent: running it twice (a retry, the sweep plus the original enqueue, two
workers) has the effect of running it once.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app

from .database import outside_transaction
from .extensions import db
from .models import Notification, NotificationChannel, NotificationStatus, utcnow

log = logging.getLogger(__name__)
SWEEP_BATCH = 500


def claim(notification_id: int, now: Optional[datetime] = None) -> Optional[Notification]:
    """Atomically take a pending row for sending and return it; None when someone else has
    it (or it is not pending).

    One ``UPDATE ... WHERE status = 'pending' RETURNING``: of two workers racing for a row
    exactly one gets it back. It must be committed before the message goes out, so that a
    second worker sees the claim: ``deliver_notification`` runs it outside a transaction.
    """
    params = {"row_id": notification_id, "now": now or utcnow()}
    return db.session.scalars(_claim_statement(), params).one_or_none()


# Deliveries are many and short: their statements are built once (building and caching a
# statement per call cost as much CPU as sending it).
@functools.cache
def _claim_statement() -> sa.Select:
    table = Notification.__table__
    update = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"), table.c.status == NotificationStatus.PENDING)
        .values(
            status=NotificationStatus.SENDING,
            claimed_at=sa.bindparam("now", type_=table.c.claimed_at.type),
            attempts=table.c.attempts + 1,
        )
        .returning(*table.c)
    )
    return sa.select(Notification).from_statement(update).execution_options(populate_existing=True)


@functools.cache
def _outcome_statement(names: tuple[str, ...]) -> sa.Update:
    table = Notification.__table__
    values = {name: sa.bindparam(f"new_{name}", type_=table.c[name].type) for name in names}
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(claimed_at=None, **values)
        .execution_options(synchronize_session=False)
    )


def _statements_commit_themselves() -> None:
    """Run the session's next statements outside a transaction, each committed on its own.

    A delivery writes twice (the claim, then sent or failed) and each write must be durable
    at once; without BEGIN and COMMIT that is one round trip per write instead of three.
    Work the caller left in the session is committed first, as the claim always did.
    """
    if db.session().in_transaction():
        db.session.commit()
    outside_transaction()


def deliver_notification(notification_id: int) -> bool:
    """Send one outbox row through its channel; True when this call sent it.

    A transient failure puts the row back to pending with a backoff and re-raises (RQ's
    Retry runs it again; without Redis the outbox sweep does); the last attempt, or an error
    no retry can fix, marks it failed with the error.
    """
    from .services import delivery
    from .services.notifications import retry_intervals

    _statements_commit_themselves()
    row = claim(notification_id)
    if row is None:
        db.session.commit()
        log.debug("notification %s not pending (sent, failed or claimed)", notification_id)
        return False
    try:
        delivery.send(row)
    except delivery.PermanentDeliveryError as exc:
        _record(row, status=NotificationStatus.FAILED, last_error=_error_text(exc))
        log.warning("notification %s failed for good: %s", notification_id, _error_text(exc))
        return False
    except Exception as exc:
        attempts = row.attempts
        if attempts >= current_app.config["NOTIFY_MAX_ATTEMPTS"]:
            _record(row, status=NotificationStatus.FAILED, last_error=_error_text(exc))
            log.warning("notification %s failed after %s tries", notification_id, attempts)
        else:
            intervals = retry_intervals() or [60]
            wait = intervals[min(attempts - 1, len(intervals) - 1)]
            send_after = utcnow() + timedelta(seconds=wait)
            _record(
                row,
                status=NotificationStatus.PENDING,
                send_after=send_after,
                last_error=_error_text(exc),
            )
            log.warning(
                "notification %s try %s failed, retrying in %ss: %s",
                notification_id,
                attempts,
                wait,
                _error_text(exc),
            )
        raise
    _record(row, status=NotificationStatus.SENT, sent_at=utcnow(), last_error=None)
    return True


def _error_text(exc: Exception) -> str:
    return f"{type(exc).__name__}: {exc}"[:2000]


def _record(row: Notification, **values) -> None:
    """Write the outcome of a claimed row's delivery (one UPDATE, committed) and release the
    claim."""
    params = {f"new_{name}": value for name, value in values.items()}
    db.session.execute(_outcome_statement(tuple(values)), {"row_id": row.id, **params})
    db.session.commit()


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
        .limit(SWEEP_BATCH)
    ).all()
    db.session.commit()
    for notification_id in due_ids:
        redeliver(notification_id)
    return {"recovered": recovered, "failed": failed, "redelivered": len(due_ids)}


def redeliver(notification_id: int) -> None:
    """Enqueue a delivery on RQ (with retries); run it here when Redis is off or down."""
    from .queue import get_queue, uses_rq
    from .services.notifications import rq_delivery_options

    app = current_app._get_current_object()
    if uses_rq(app):
        try:
            get_queue("default", app).enqueue(
                deliver_notification, notification_id, **rq_delivery_options()
            )
            return
        except Exception:
            log.warning("could not enqueue notification %s; delivering here", notification_id)
    try:
        deliver_notification(notification_id)
    except Exception:
        # Already recorded on the row (pending with a backoff, or failed).
        db.session.rollback()


def schedule_appointment_reminders(appointment_id: int) -> list[str]:
    """(Re)schedule an appointment's reminder jobs on RQ for its current start time."""
    from .services import reminders

    ids = reminders.schedule_reminders(appointment_id)
    db.session.rollback()  # read-only in the database
    return ids


def send_appointment_reminder(appointment_id: int, offset_seconds: int, start_iso: str) -> int:
    """A scheduled reminder: sends only if the appointment still exists, is scheduled, starts
    when it did at scheduling time and this reminder is due (a stale job does nothing)."""
    from .models import Appointment
    from .services import reminders

    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or appointment.start.isoformat() != start_iso:
        return 0
    rows = reminders.send_appointment_reminder(appointment, timedelta(seconds=offset_seconds))
    db.session.commit()
    return len(rows)


def sweep_reminders() -> dict[str, int]:
    """Send due appointment and pickup reminders."""
    from .services import reminders

    appointments = reminders.sweep_appointment_reminders()
    db.session.commit()
    pickups = reminders.sweep_pickup_reminders()
    db.session.commit()
    return {"appointment_reminders": appointments, "pickup_reminders": pickups}


def staff_checks() -> dict[str, int]:
    """Alert staff about overdue repairs and payments awaiting verification."""
    from .services import reminders

    overdue = reminders.check_overdue_repairs()
    db.session.commit()
    payments = reminders.check_payments_awaiting_verification()
    db.session.commit()
    return {"overdue_alerts": overdue, "payment_alerts": payments}


# The periodic jobs: (name, function, setting holding its interval in seconds).
def sweep_stripe_events() -> dict[str, int]:
    """Apply Stripe events whose job was lost (Redis down, a worker died mid-job)."""
    from .payments.jobs import retry_unprocessed_events

    return retry_unprocessed_events()


PERIODIC_JOBS = (
    ("outbox", sweep_outbox, "SWEEP_OUTBOX_SECONDS"),
    ("reminders", sweep_reminders, "SWEEP_REMINDERS_SECONDS"),
    ("staff_checks", staff_checks, "SWEEP_STAFF_CHECKS_SECONDS"),
    ("stripe_events", sweep_stripe_events, "SWEEP_STRIPE_EVENTS_SECONDS"),
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
