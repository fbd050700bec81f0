"""Reminders and periodic checks: appointment and pickup reminders, staff alerts for overdue
repairs and payments awaiting verification.

Appointment reminders are scheduled on RQ (``enqueue_at``) when an appointment is booked or
changed; the reminder job re-checks the appointment when it runs, so a stale job is harmless.
The periodic sweep finds due reminders too (the only path without Redis, a safety net with
it); both paths write the same de-duplication key, so a customer gets each reminder once.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..formatting import local_time
from ..models import (
    Appointment,
    AppointmentStatus,
    Notification,
    Payment,
    PaymentMethod,
    PaymentStatus,
    RepairStatus,
    ServiceRequest,
    utcnow,
)
from ..queue import enqueue_after_commit, get_queue, redis_connection, uses_rq
from . import notifications

log = logging.getLogger(__name__)

UNITS = {"m": 60, "h": 3600, "d": 86400}
# Repairs still being worked on: past their estimated completion they are overdue.
WORK_STATUSES = (
    RepairStatus.PENDING,
    RepairStatus.SCHEDULED,
    RepairStatus.IN_PROGRESS,
    RepairStatus.AWAITING_PARTS,
    RepairStatus.ON_HOLD,
    RepairStatus.DELAYED,
    RepairStatus.QUALITY_CHECK,
)
REMINDER_KEY = "fixmyphone:appointment-reminders:{}"


def parse_offset(text: str) -> timedelta:
    """'24h' → 24 hours; units m, h, d (a bare number is hours)."""
    match = re.fullmatch(r"\s*(\d+)\s*([mhd]?)\s*", text.lower())
    if not match:
        raise ValueError(f"bad reminder offset {text!r}; use e.g. 24h, 90m, 2d")
    return timedelta(seconds=int(match.group(1)) * UNITS[match.group(2) or "h"])


def reminder_offsets() -> list[timedelta]:
    """The configured appointment reminder offsets, largest first (APPOINTMENT_REMINDERS)."""
    offsets = current_app.config["APPOINTMENT_REMINDERS"]
    return sorted({parse_offset(v) for v in offsets}, reverse=True)


def offset_label(offset: timedelta) -> str:
    """24 hours → '24h', 90 minutes → '90m' (part of the reminder's de-duplication key)."""
    seconds = int(offset.total_seconds())
    for unit in ("h", "m"):
        if seconds % UNITS[unit] == 0:
            return f"{seconds // UNITS[unit]}{unit}"
    return f"{seconds}s"


def due_offset(start: datetime, now: datetime) -> Optional[timedelta]:
    """The reminder whose window holds ``now``: from start - offset until the next, smaller
    reminder is due (so a late run sends only the most recent reminder, never two at once)."""
    offsets = reminder_offsets()
    for i, offset in enumerate(offsets):
        window_end = start - offsets[i + 1] if i + 1 < len(offsets) else start
        if start - offset <= now < window_end:
            return offset
    return None


def send_appointment_reminder(
    appointment: Appointment, offset: timedelta, now: Optional[datetime] = None
) -> list[Notification]:
    """Remind the customer of an appointment if it is still on and this reminder is due."""
    now = now or utcnow()
    if appointment.status != AppointmentStatus.SCHEDULED or appointment.start <= now:
        return []
    if due_offset(appointment.start, now) != offset:
        return []
    request = appointment.service_request
    return notifications.notify(
        request.customer,
        "appointment_reminder",
        dedup_key=(
            f"appointment_reminder:{appointment.id}:"
            f"{appointment.start.isoformat()}:{offset_label(offset)}"
        ),
        service_request=request,
        context={"when": local_time(appointment.start), "start": appointment.start.isoformat()},
    )


def sweep_appointment_reminders(now: Optional[datetime] = None) -> int:
    """Send every appointment reminder that is due now; returns how many rows were written."""
    now = now or utcnow()
    offsets = reminder_offsets()
    if not offsets:
        return 0
    appointments = db.session.scalars(
        sa.select(Appointment).where(
            Appointment.status == AppointmentStatus.SCHEDULED,
            Appointment.start > now,
            Appointment.start <= now + offsets[0],
        )
    )
    written = 0
    for appointment in appointments:
        offset = due_offset(appointment.start, now)
        if offset is not None:
            written += len(send_appointment_reminder(appointment, offset, now))
    return written


# ---------------------------------------------------------------- RQ scheduling


def appointment_changed(appointment: Appointment) -> None:
    """Booking hook: (re)schedule or drop the appointment's reminder jobs after commit.

    Without Redis there is nothing to schedule: the periodic sweep sends due reminders.
    """
    if uses_rq(current_app):
        db.session.flush()
        enqueue_after_commit(
            "fixmyphone.jobs.schedule_appointment_reminders", appointment.id, queue="high"
        )


def scheduled_job_ids(appointment_id: int) -> list[str]:
    """The ids of the RQ jobs holding this appointment's reminders."""
    raw = redis_connection().lrange(REMINDER_KEY.format(appointment_id), 0, -1)
    return [v.decode() if isinstance(v, bytes) else v for v in raw]


def schedule_reminders(appointment_id: int, now: Optional[datetime] = None) -> list[str]:
    """Cancel the appointment's reminder jobs and schedule new ones for its current start."""
    # loaded on first use: rq takes ~0.1 s to import, and only a worker with Redis gets here
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    now = now or utcnow()
    conn = redis_connection()
    key = REMINDER_KEY.format(appointment_id)
    for job_id in scheduled_job_ids(appointment_id):
        try:
            Job.fetch(job_id, connection=conn).delete()
        except NoSuchJobError:
            pass
    conn.delete(key)
    appointment = db.session.get(Appointment, appointment_id)
    if appointment is None or appointment.status != AppointmentStatus.SCHEDULED:
        return []
    queue = get_queue("default")
    ids = []
    for offset in reminder_offsets():
        due = appointment.start - offset
        if due <= now:
            continue  # too late for this one; the sweep covers the window it is in.
        job = queue.enqueue_at(
            due,
            "fixmyphone.jobs.send_appointment_reminder",
            appointment.id,
            int(offset.total_seconds()),
            appointment.start.isoformat(),
        )
        ids.append(job.id)
    if ids:
        conn.rpush(key, *ids)
        ttl = int((appointment.start - now).total_seconds()) + 86400
        conn.expire(key, max(ttl, 60))
    return ids


# ---------------------------------------------------------------- pickup reminders


def pickup_days() -> list[int]:
    """Days after "ready" at which an uncollected device is reminded (PICKUP_REMINDER_DAYS)."""
    return sorted(set(current_app.config["PICKUP_REMINDER_DAYS"]))


def sweep_pickup_reminders(now: Optional[datetime] = None) -> int:
    """Remind customers whose repair has waited for pickup 3 (then 7) days."""
    now = now or utcnow()
    days = pickup_days()
    if not days:
        return 0
    waiting = db.session.scalars(
        sa.select(ServiceRequest).where(
            ServiceRequest.status == RepairStatus.READY_FOR_PICKUP,
            ServiceRequest.ready_at.is_not(None),
            ServiceRequest.ready_at <= now - timedelta(days=days[0]),
        )
    )
    written = 0
    for request in waiting:
        waited = now - request.ready_at
        # Only the latest threshold passed: after a long outage one reminder, not two.
        threshold = max(d for d in days if waited >= timedelta(days=d))
        written += len(
            notifications.notify(
                request.customer,
                "pickup_reminder",
                dedup_key=(
                    f"pickup_reminder:{request.id}:{request.ready_at.isoformat()}:{threshold}d"
                ),
                service_request=request,
                context={"days": waited.days, "threshold": threshold},
            )
        )
    return written


# ---------------------------------------------------------------- staff checks


def check_overdue_repairs(now: Optional[datetime] = None) -> int:
    """Alert the admins and the assigned technician about repairs past their estimate."""
    now = now or utcnow()
    overdue = db.session.scalars(
        sa.select(ServiceRequest).where(
            ServiceRequest.status.in_(WORK_STATUSES),
            ServiceRequest.estimated_completion.is_not(None),
            ServiceRequest.estimated_completion < now,
        )
    )
    written = 0
    for request in overdue:
        estimate = request.estimated_completion
        written += len(
            notifications.alert_staff(
                "repair_overdue",
                # A new estimate that passes alerts again; the same one only once.
                dedup_key=f"overdue:{request.id}:{estimate.isoformat()}",
                service_request=request,
                technician=request.technician,
            )
        )
    return written


def remind_payment_to_verify(
    payment: Payment, now: Optional[datetime] = None
) -> list[Notification]:
    """Alert the admins (in-app and email) that a counter payment still waits for verification.

    The payments service tells the admins in-app when the payment is recorded; this is the
    reminder for one nobody has checked after ``PAYMENT_VERIFY_REMINDER_HOURS``.
    """
    now = now or utcnow()
    return notifications.alert_staff(
        "payment_to_verify",
        dedup_key=f"payment_to_verify_reminder:{payment.id}",
        service_request=payment.service_request,
        context={"payment_id": payment.id},
        values={
            "payment": payment,
            "hours": int((now - payment.created_at).total_seconds() // 3600),
        },
    )


def check_payments_awaiting_verification(now: Optional[datetime] = None) -> int:
    """Remind the admins, once per payment, of counter payments left unverified too long."""
    now = now or utcnow()
    hours = current_app.config["PAYMENT_VERIFY_REMINDER_HOURS"]
    waiting = db.session.scalars(
        sa.select(Payment).where(
            Payment.status == PaymentStatus.PENDING,
            Payment.method != PaymentMethod.STRIPE,
            Payment.verified_at.is_(None),
            Payment.created_at <= now - timedelta(hours=hours),
        )
    )
    return sum(len(remind_payment_to_verify(p, now)) for p in waiting)
