"""Jobs on a real Redis: delivery through RQ, retries, scheduled reminders, periodic jobs once
across workers; and a Redis that is down leaves the change committed and the row pending."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from rq.job import Job
from rq.registry import FailedJobRegistry, FinishedJobRegistry, ScheduledJobRegistry

from fixmyphone import jobs
from fixmyphone.extensions import db
from fixmyphone.models import Notification, ShopSettings, utcnow
from fixmyphone.queue import get_queue, redis_connection
from fixmyphone.services import booking, notifications, reminders
from fixmyphone.worker import make_worker, run_worker, tick_periodic
from fixmyphone.workflow import move_status

from ..factories import CustomerFactory, ServiceRequestFactory, UserFactory, open_every_day

FUTURE = date.today() + timedelta(days=3)
START = datetime.combine(FUTURE, time(10), tzinfo=UTC)


@pytest.fixture
def rq_app(app, require_redis):
    app.config.update(REDIS_URL=require_redis, JOBS_INLINE=False)
    app.extensions.pop("fixmyphone_redis", None)
    return app


def rows() -> list[Notification]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Notification)))


def the_row(**filters) -> Notification:
    db.session.expire_all()
    return db.session.scalars(sa.select(Notification).filter_by(**filters)).one()


@pytest.mark.redis
def test_a_delivery_batch_is_enqueued_on_rq_and_drained_by_a_worker(rq_app, sent):
    customer = CustomerFactory()
    for key in ("q1", "q2"):
        notifications.notify(customer, "quote_sent", "Q", "B", dedup_key=key, channels=["email"])
    db.session.commit()
    assert sent == []
    queue = get_queue("default")
    assert queue.count == 1  # one batch per transaction, however many rows it wrote
    job = queue.jobs[0]
    assert job.func_name == "fixmyphone.jobs.deliver_due" and job.args == ()
    assert job.timeout == rq_app.config["OUTBOX_CLAIM_TIMEOUT_SECONDS"] and job.result_ttl == 0
    make_worker(rq_app, ["default"]).work(burst=True)
    assert sent.channels() == ["email", "email"]
    assert {r.status for r in rows()} == {"sent"}


@pytest.mark.redis
def test_a_failed_row_is_retried_by_its_own_drain_then_fails_and_resend_delivers(rq_app, sent):
    rq_app.config.update(NOTIFY_MAX_ATTEMPTS=2, NOTIFY_RETRY_INTERVALS=[0])
    customer = CustomerFactory()
    admin = UserFactory(role="admin")
    sent.error = ConnectionError("smtp down")
    notifications.notify(customer, "quote_sent", "Q", "B", dedup_key="q", channels=["email"])
    db.session.commit()
    make_worker(rq_app, ["default"]).work(burst=True)  # the batch: try 1; its retry: try 2
    row = the_row()
    assert (row.status, row.attempts) == ("failed", 2)
    assert "smtp down" in row.last_error
    connection = redis_connection()
    assert FailedJobRegistry("default", connection=connection).count == 0  # the row failed
    assert FinishedJobRegistry("default", connection=connection).count == 0  # no results kept

    sent.error = None
    notifications.resend(row.id, admin)
    db.session.commit()
    make_worker(rq_app, ["default"]).work(burst=True)
    assert (the_row().status, sent.channels()) == ("sent", ["email"])


@pytest.mark.redis
def test_a_retry_waits_for_its_backoff_on_the_scheduler(rq_app, sent):
    rq_app.config.update(NOTIFY_RETRY_INTERVALS=[30])
    sent.error = ConnectionError("smtp down")
    notifications.notify(CustomerFactory(), "x", "S", "B", dedup_key="x", channels=["email"])
    db.session.commit()
    make_worker(rq_app, ["default"]).work(burst=True)
    registry = ScheduledJobRegistry("default", connection=redis_connection())
    (job_id,) = registry.get_job_ids()
    job = Job.fetch(job_id, connection=redis_connection())
    row = the_row()
    assert (job.func_name, job.args) == ("fixmyphone.jobs.deliver_due", ([row.id],))
    at = registry.get_scheduled_time(job_id)
    assert abs((at - row.send_after).total_seconds()) < 5


@pytest.mark.redis
def test_reminders_are_scheduled_moved_and_dropped_with_the_appointment(rq_app, sent):
    open_every_day(time(9), time(12))
    db.session.add(ShopSettings(slot_minutes=60, default_slot_capacity=2))
    request = ServiceRequestFactory()
    admin = UserFactory(role="admin")
    db.session.commit()
    registry = ScheduledJobRegistry("default", connection=redis_connection())

    def scheduled(appointment_id):
        make_worker(rq_app, ["high"]).work(burst=True)  # runs the (re)scheduling job
        ids = reminders.scheduled_job_ids(appointment_id)
        assert set(ids) == set(registry.get_job_ids())
        return ids, sorted(registry.get_scheduled_time(i) for i in ids)

    appointment = booking.book(request, START, request.customer)
    db.session.commit()
    first_ids, times = scheduled(appointment.id)
    assert times == [START - timedelta(hours=24), START - timedelta(hours=1)]

    booking.reschedule(appointment, START + timedelta(hours=1), admin)
    db.session.commit()
    second_ids, times = scheduled(appointment.id)
    assert times == [START + timedelta(hours=-23), START]
    assert not set(first_ids) & set(second_ids)
    assert not any(Job.exists(i, connection=redis_connection()) for i in first_ids)

    # The scheduled job, run when due, sends the reminder once; a stale one does nothing.
    job = Job.fetch(second_ids[-1], connection=redis_connection())
    due = START + timedelta(minutes=30)
    reminders_now = reminders.utcnow
    reminders.utcnow = lambda: due
    try:
        assert jobs.send_appointment_reminder(*job.args) == 2
        assert jobs.send_appointment_reminder(*job.args) == 0
        assert jobs.send_appointment_reminder(appointment.id, 3600, START.isoformat()) == 0
    finally:
        reminders.utcnow = reminders_now

    booking.cancel(appointment, admin)
    db.session.commit()
    ids, _times = scheduled(appointment.id)
    assert ids == [] and registry.count == 0


@pytest.mark.redis
def test_periodic_jobs_are_enqueued_once_per_window_across_workers(rq_app):
    now = 3_600_000.0  # a boundary of every interval (60 s, 300 s, 3600 s)
    results: list[list[str]] = []

    def worker(n):
        with rq_app.app_context():
            results.append(tick_periodic(rq_app, now + 0.5, owner=f"w{n}"))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(name for r in results for name in r) == [
        "outbox",
        "reminders",
        "staff_checks",
        "stripe_events",
    ]
    assert tick_periodic(rq_app, now + 30, owner="late") == []
    assert tick_periodic(rq_app, now + 60, owner="late") == ["outbox"]

    low = get_queue("low")
    assert low.count == 5  # four periodic jobs, then the outbox sweep again in the next window
    make_worker(rq_app, ["low"]).work(burst=True)
    connection = redis_connection()
    assert FailedJobRegistry("low", connection=connection).count == 0
    assert FinishedJobRegistry("low", connection=connection).count == 5


@pytest.mark.redis
def test_the_worker_runs_the_scheduler_for_jobs_that_are_due(rq_app):
    queue = get_queue("default")
    job = queue.enqueue_at(utcnow() - timedelta(seconds=1), jobs.sweep_outbox)
    assert queue.count == 0
    run_worker(rq_app, ["default"], burst=True)
    job.refresh()
    assert job.get_status() == "finished"
    assert job.return_value() == {"recovered": 0, "failed": 0, "redelivered": 0}


@pytest.mark.redis
def test_the_worker_command_drains_the_queues(rq_app, runner, sent):
    customer = CustomerFactory()
    notifications.notify(customer, "quote_sent", "Q", "B", dedup_key="q", channels=["email"])
    db.session.commit()
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code == 0, result.output
    assert sent.channels() == ["email"]


def test_with_redis_down_the_change_commits_and_the_row_waits_for_the_sweep(app, sent, caplog):
    app.config.update(REDIS_URL="redis://127.0.0.1:1/0", JOBS_INLINE=False)
    app.extensions.pop("fixmyphone_redis", None)
    request = ServiceRequestFactory()
    admin = UserFactory(role="admin")
    db.session.commit()
    move_status(request, "in_progress", admin)
    db.session.commit()
    db.session.expire_all()
    assert request.status == "in_progress"
    row = the_row(channel="email")
    assert (row.status, row.attempts) == ("pending", 0)
    assert sent == []
    assert "left for the sweep" in caplog.text

    # Redis still down: the sweep delivers in-process instead of enqueuing.
    assert jobs.sweep_outbox(now=utcnow() + timedelta(minutes=5))["redelivered"] == 1
    assert the_row(channel="email").status == "sent"
    assert sent.channels() == ["email"]


def test_the_worker_command_needs_redis(app, runner):
    app.config["REDIS_URL"] = None
    result = runner.invoke(args=["worker", "--burst"])
    assert result.exit_code != 0 and "REDIS_URL is not set" in result.output


def test_the_sweep_command_runs_every_periodic_job(app, runner, sent):
    row = Notification(
        user=CustomerFactory(),
        event="x",
        channel="email",
        recipient="a@example.com",
        subject="s",
        body="b",
        dedup_key="k",
        created_at=utcnow() - timedelta(hours=1),
    )
    db.session.add(row)
    db.session.commit()
    result = runner.invoke(args=["sweep"])
    assert result.exit_code == 0, result.output
    assert "outbox: recovered=0, failed=0, redelivered=1" in result.output
    assert "reminders: appointment_reminders=0, pickup_reminders=0" in result.output
    assert "staff_checks: overdue_alerts=0, payment_alerts=0" in result.output
    assert sent.channels() == ["email"]
