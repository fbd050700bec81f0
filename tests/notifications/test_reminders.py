"""Appointment and pickup reminders, overdue repairs and payments to verify (no Redis)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from fixmyphone import jobs
from fixmyphone.extensions import db
from fixmyphone.models import Appointment, Message, Notification, Payment, ShopSettings, utcnow
from fixmyphone.services import booking, messages, notifications, reminders

from ..factories import (
    CustomerFactory,
    ServiceRequestFactory,
    TechnicianFactory,
    UserFactory,
    open_every_day,
)

FUTURE = date.today() + timedelta(days=3)
START = datetime.combine(FUTURE, time(10), tzinfo=UTC)


def count(**filters) -> int:
    return db.session.scalar(sa.select(sa.func.count(Notification.id)).filter_by(**filters))


@pytest.fixture
def shop(app):
    open_every_day(time(9), time(12))
    db.session.add(ShopSettings(slot_minutes=60, default_slot_capacity=2))
    db.session.commit()


@pytest.fixture
def appointment(shop):
    request = ServiceRequestFactory()
    appt = booking.book(request, START, request.customer)
    db.session.commit()
    return appt


@pytest.mark.parametrize(
    ("before_start", "expected"),
    [
        (timedelta(hours=30), None),
        (timedelta(hours=24), timedelta(hours=24)),
        (timedelta(hours=2), timedelta(hours=24)),
        (timedelta(hours=1), timedelta(hours=1)),
        (timedelta(minutes=5), timedelta(hours=1)),
        (timedelta(0), None),
        (-timedelta(minutes=5), None),
    ],
)
def test_each_moment_belongs_to_at_most_one_reminder(app, before_start, expected):
    assert reminders.due_offset(START, START - before_start) == expected


def test_offsets_are_configurable(app):
    app.config["APPOINTMENT_REMINDERS"] = ["90m", "2d"]
    assert reminders.reminder_offsets() == [timedelta(days=2), timedelta(minutes=90)]
    app.config["APPOINTMENT_REMINDERS"] = ["soon"]
    with pytest.raises(ValueError):
        reminders.reminder_offsets()


def test_the_sweep_sends_the_day_before_reminder_once(appointment, sent):
    now = START - timedelta(hours=23)
    assert reminders.sweep_appointment_reminders(now) == 2  # email + in-app
    db.session.commit()
    assert reminders.sweep_appointment_reminders(now + timedelta(minutes=5)) == 0
    assert count(event="appointment_reminder", channel="email") == 1
    row = db.session.scalars(
        sa.select(Notification).filter_by(event="appointment_reminder", channel="email")
    ).one()
    assert appointment.service_request.reference in row.subject
    assert row.dedup_key.endswith(":24h:email")


def test_a_late_sweep_sends_only_the_latest_reminder(appointment, sent):
    reminders.sweep_appointment_reminders(START - timedelta(minutes=30))
    db.session.commit()
    keys = db.session.scalars(
        sa.select(Notification.dedup_key).filter_by(event="appointment_reminder")
    ).all()
    assert keys and all(":1h:" in k for k in keys)


def test_canceled_appointments_get_no_reminder(appointment, sent):
    booking.cancel(appointment, UserFactory(role="admin"))
    db.session.commit()
    assert reminders.sweep_appointment_reminders(START - timedelta(hours=23)) == 0


def test_a_stale_reminder_job_does_nothing(appointment, sent):
    old_start = appointment.start.isoformat()
    admin = UserFactory(role="admin")
    booking.reschedule(appointment, START + timedelta(hours=1), admin)
    db.session.commit()
    assert jobs.send_appointment_reminder(appointment.id, 3600, old_start) == 0
    assert jobs.send_appointment_reminder(999999, 3600, old_start) == 0
    assert count(event="appointment_reminder") == 0


def test_booking_without_redis_schedules_nothing_and_the_sweep_covers_it(appointment, sent):
    # No REDIS_URL: no RQ job, no error; the reminder comes from the sweep.
    assert count(event="appointment_booked") == 2
    jobs.sweep_reminders()
    assert count(event="appointment_reminder") == 0  # 3 days ahead: nothing due yet


def ready_request(days_ago: float):
    request = ServiceRequestFactory(status="ready_for_pickup")
    request.ready_at = utcnow() - timedelta(days=days_ago)
    db.session.commit()
    return request


def test_pickup_reminders_after_three_then_seven_days(app, sent):
    request = ready_request(4)
    assert reminders.sweep_pickup_reminders() == 2
    db.session.commit()
    assert reminders.sweep_pickup_reminders() == 0
    assert reminders.sweep_pickup_reminders(utcnow() + timedelta(days=4)) == 2
    db.session.commit()
    keys = sorted(
        db.session.scalars(
            sa.select(Notification.dedup_key).filter_by(event="pickup_reminder", channel="email")
        )
    )
    assert [k.split(":")[-2] for k in keys] == ["3d", "7d"]
    assert all(str(request.id) in k for k in keys)


def test_a_long_wait_sends_only_the_latest_pickup_reminder(app, sent):
    ready_request(9)
    ready_request(1)  # not yet
    reminders.sweep_pickup_reminders()
    db.session.commit()
    keys = db.session.scalars(sa.select(Notification.dedup_key)).all()
    assert len(keys) == 2 and all(":7d:" in k for k in keys)


@pytest.fixture
def staff(app):
    admins = [UserFactory(role="admin"), UserFactory(role="superadmin")]
    UserFactory(role="admin", active=False)
    return admins, TechnicianFactory()


def test_overdue_repairs_alert_admins_and_the_technician_once_per_estimate(staff, sent):
    admins, tech = staff
    request = ServiceRequestFactory(status="in_progress", technician=tech)
    request.estimated_completion = utcnow() - timedelta(hours=2)
    ServiceRequestFactory(status="ready_for_pickup").estimated_completion = utcnow() - timedelta(
        days=1
    )  # done: not overdue
    db.session.commit()
    assert reminders.check_overdue_repairs() == 6  # 3 people x (in-app + email)
    db.session.commit()
    assert reminders.check_overdue_repairs() == 0
    users = set(
        db.session.scalars(sa.select(Notification.user_id).filter_by(event="repair_overdue"))
    )
    assert users == {a.id for a in admins} | {tech.id}
    request.estimated_completion = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert reminders.check_overdue_repairs() == 6  # a new estimate that passes alerts again


def test_payments_left_unverified_remind_the_admins_once(staff, sent):
    request = ServiceRequestFactory()
    payment = Payment(
        service_request=request,
        customer_id=request.customer_id,
        method="bank_transfer",
        amount=4999,
        currency="usd",
        reference="BANK-1",
    )
    db.session.add(payment)
    db.session.commit()
    assert jobs.staff_checks() == {"overdue_alerts": 0, "payment_alerts": 0}  # just recorded
    payment.created_at = utcnow() - timedelta(hours=25)
    db.session.commit()
    assert jobs.staff_checks() == {"overdue_alerts": 0, "payment_alerts": 4}
    assert jobs.staff_checks() == {"overdue_alerts": 0, "payment_alerts": 0}
    row = db.session.scalars(
        sa.select(Notification).filter_by(event="payment_to_verify", channel="email")
    ).first()
    assert "$49.99" in row.body and "BANK-1" in row.body and "25 hours" in row.body
    payment.verified_at = utcnow()
    db.session.commit()


def test_low_stock_alerts_reach_the_active_admins(staff, sent):
    admins, _tech = staff
    rows = notifications.alert_staff(
        "low_stock", "Low stock: Screen", "2 left", dedup_key="low_stock:part:1:2"
    )
    db.session.commit()
    assert sorted((r.user_id, r.channel) for r in rows) == sorted(
        (a.id, c) for a in admins for c in ("email", "in_app")
    )
    assert all(r.context["audience"] == "staff" for r in rows)
    assert sent.channels() == ["email", "email"]


def test_a_customer_message_alerts_admins_and_the_assigned_technician(staff):
    admins, tech = staff
    request = ServiceRequestFactory(technician=tech)
    messages.post_message(request, request.customer, "Is it done yet?")
    db.session.commit()
    rows = db.session.scalars(sa.select(Notification).filter_by(event="customer_message")).all()
    assert {r.user_id for r in rows} == {a.id for a in admins} | {tech.id}
    assert {r.channel for r in rows} == {"in_app"}
    message_id = db.session.scalar(sa.select(Message.id))
    assert all(r.dedup_key.startswith(f"customer_message:{message_id}:") for r in rows)


def test_a_customer_without_email_preference_still_gets_in_app_reminders(shop, sent):
    customer = CustomerFactory()
    customer.customer_profile.notify_email = False
    request = ServiceRequestFactory(customer=customer)
    booking.book(request, START, customer)
    db.session.commit()
    reminders.sweep_appointment_reminders(START - timedelta(hours=2))
    db.session.commit()
    assert count(event="appointment_reminder", channel="in_app") == 1
    assert count(event="appointment_reminder", channel="email") == 0
    assert db.session.scalar(sa.select(sa.func.count(Appointment.id))) == 1
