"""The outbox: rows written with the change, delivered once, retried, failed, resent."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from fixmyphone import jobs
from fixmyphone.domain_errors import Conflict, NotFound
from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Notification, utcnow
from fixmyphone.services import delivery, notifications
from fixmyphone.workflow import move_status

from ..factories import CustomerFactory, ServiceRequestFactory, UserFactory


def rows(**filters) -> list[Notification]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(Notification).filter_by(**filters).order_by(Notification.id))
    )


def pending_email(user, key: str = "k1") -> Notification:
    """A pending email row written without its after-commit delivery (as if Redis was down)."""
    row = Notification(
        user=user,
        event="status_changed",
        channel="email",
        recipient=user.email,
        subject="Hello",
        body="Body",
        dedup_key=key,
    )
    db.session.add(row)
    db.session.commit()
    return row


@pytest.fixture
def admin(app):
    return UserFactory(role="admin")


def test_a_status_move_writes_rows_in_its_transaction_and_delivers_after_commit(app, sent, admin):
    request = ServiceRequestFactory()
    db.session.commit()
    move_status(request, "in_progress", admin, "Started")
    staged = db.session.scalars(sa.select(Notification)).all()
    assert sorted(r.channel for r in staged) == ["email", "in_app"]
    assert sent == []  # nothing leaves before the commit
    db.session.commit()
    assert sent.channels() == ["email"]
    email, in_app = rows(channel="email")[0], rows(channel="in_app")[0]
    assert (email.status, email.attempts, email.sent_at is not None) == ("sent", 1, True)
    assert email.recipient == request.customer.email
    assert email.context["status"] == "in_progress"
    assert (in_app.status, in_app.read_at) == ("sent", None)


def test_a_rolled_back_change_leaves_no_row_and_sends_nothing(app, sent, admin):
    request = ServiceRequestFactory()
    db.session.commit()
    move_status(request, "in_progress", admin)
    db.session.rollback()
    db.session.commit()
    assert rows() == []
    assert sent == []


def test_the_same_dedup_key_twice_writes_one_row_per_channel(app, sent):
    customer = CustomerFactory()
    for _ in range(2):
        notifications.notify(customer, "quote_sent", "Quote", "Body", dedup_key="quote:1")
        db.session.commit()
    assert sorted(r.channel for r in rows()) == ["email", "in_app"]
    assert sent.channels() == ["email"]


def test_a_dedup_race_in_one_transaction_keeps_the_callers_work(app, sent, monkeypatch):
    customer = CustomerFactory()
    # Another writer inserted the same key after our existence check: the savepoint absorbs it.
    db.session.add(
        Notification(
            user=customer,
            event="x",
            channel="email",
            subject="s",
            body="b",
            dedup_key="race:email",
            status="sent",
        )
    )
    db.session.flush()
    calls = {"n": 0}

    def blind_check(_key):  # the existence check misses the other writer's row
        calls["n"] += 1
        return False

    with monkeypatch.context() as patch:
        patch.setattr(notifications, "_already_written", blind_check)
        written = notifications.notify(
            customer, "x", "s", "b", dedup_key="race", channels=["email"]
        )
    assert written == [] and calls["n"] == 1
    db.session.commit()
    assert len(rows(dedup_key="race:email")) == 1


def race_two_deliveries(app, monkeypatch, rounds: int = 1, pause: float = 0.2) -> None:
    """Two workers deliver the same rows at the same moments: each row is sent exactly once."""
    customer = CustomerFactory()
    ids = [pending_email(customer, f"race{n}").id for n in range(rounds)]
    calls = []
    barrier = threading.Barrier(2)

    def slow_send(row):
        calls.append(row.id)
        time.sleep(pause)

    monkeypatch.setattr(delivery, "send", slow_send)
    results = []

    def worker():
        with app.app_context():
            for row_id in ids:
                barrier.wait()
                results.append(jobs.deliver_notification(row_id))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(calls) == ids
    assert sorted(results) == [False] * rounds + [True] * rounds
    assert {(row.status, row.attempts) for row in rows()} == {("sent", 1)}


def test_two_concurrent_deliveries_send_once(app, monkeypatch):
    race_two_deliveries(app, monkeypatch)


def on_postgres(database_url: str, tmp_path, check) -> None:
    """Run ``check(app)`` inside the app context of an app on a fresh PostgreSQL database."""
    from ..conftest import make_app

    app = make_app(database_url, tmp_path)
    with app.app_context():
        try:
            check(app)
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.mark.postgres
def test_two_concurrent_deliveries_send_once_on_postgres(require_postgres, tmp_path, monkeypatch):
    on_postgres(require_postgres, tmp_path, lambda app: race_two_deliveries(app, monkeypatch))


def test_a_sent_row_is_never_sent_again(app, sent):
    row_id = pending_email(CustomerFactory()).id
    assert jobs.deliver_notification(row_id) is True
    assert jobs.deliver_notification(row_id) is False
    assert len(sent) == 1


@pytest.fixture
def app_settings():
    return {"NOTIFY_MAX_ATTEMPTS": 3, "NOTIFY_RETRY_INTERVALS": [10, 60]}


def test_transient_failures_retry_then_fail_and_resend_delivers(app, sent, admin):
    customer = CustomerFactory()
    sent.error = ConnectionError("smtp down")
    notifications.notify(customer, "quote_sent", "Quote", "Body", dedup_key="q", channels=["email"])
    db.session.commit()  # attempt 1, in-process
    row = rows()[0]
    assert (row.status, row.attempts) == ("pending", 1)
    assert "smtp down" in row.last_error
    assert row.send_after > utcnow() + timedelta(seconds=5)  # backoff: 10 s

    # The sweep leaves it alone during the backoff, then retries.
    assert jobs.sweep_outbox()["redelivered"] == 0
    later = utcnow() + timedelta(hours=1)
    jobs.sweep_outbox(now=later)
    row = rows()[0]
    assert (row.status, row.attempts) == ("pending", 2)
    jobs.sweep_outbox(now=later + timedelta(hours=1))
    row = rows()[0]
    assert (row.status, row.attempts) == ("failed", 3)
    assert "ConnectionError: smtp down" in row.last_error
    jobs.sweep_outbox(now=later + timedelta(hours=2))
    assert rows()[0].attempts == 3  # failed rows are not retried by the sweep
    assert sent == []

    sent.error = None
    notifications.resend(row.id, admin)
    db.session.commit()
    row = rows()[0]
    assert (row.status, row.attempts, row.last_error) == ("sent", 1, None)
    assert sent.channels() == ["email"]
    audit = db.session.scalars(sa.select(AuditLog).filter_by(action="notification_resent")).one()
    assert audit.object_id == str(row.id) and audit.before["status"] == "failed"


def test_resend_refuses_rows_that_did_not_fail(app, sent, admin):
    row = pending_email(CustomerFactory())
    with pytest.raises(Conflict):
        notifications.resend(row.id, admin)
    with pytest.raises(NotFound):
        notifications.resend(999999, admin)


def test_a_permanent_error_fails_at_once(app):
    customer = CustomerFactory()
    row = pending_email(customer)
    row.recipient = None
    db.session.commit()
    assert jobs.deliver_notification(row.id) is False
    row = rows()[0]
    assert (row.status, row.attempts) == ("failed", 1)
    assert "no email address" in row.last_error


def test_the_sweep_recovers_stale_claims(app, sent):
    customer = CustomerFactory()
    stale = pending_email(customer, "stale")
    dead = pending_email(customer, "dead")
    fresh = pending_email(customer, "fresh")
    hour_ago = utcnow() - timedelta(hours=1)
    for row, attempts, claimed in ((stale, 1, hour_ago), (dead, 3, hour_ago), (fresh, 1, utcnow())):
        row.status, row.attempts, row.claimed_at = "sending", attempts, claimed
        row.created_at = hour_ago
    db.session.commit()

    result = jobs.sweep_outbox()
    assert result == {"recovered": 1, "failed": 1, "redelivered": 1}
    by_key = {r.dedup_key: r for r in rows()}
    assert (by_key["stale"].status, by_key["stale"].attempts) == ("sent", 2)
    assert by_key["dead"].status == "failed" and "interrupted" in by_key["dead"].last_error
    assert by_key["fresh"].status == "sending"  # a live claim is left to its worker
    assert [c["id"] for c in sent] == [stale.id]


def test_the_sweep_waits_a_grace_period_before_redelivering(app, sent):
    row = pending_email(CustomerFactory())
    assert jobs.sweep_outbox()["redelivered"] == 0
    assert jobs.sweep_outbox(now=utcnow() + timedelta(minutes=5))["redelivered"] == 1
    assert [c["id"] for c in sent] == [row.id]


def test_a_savepoint_does_not_release_the_jobs_before_the_real_commit(app, sent):
    customer = CustomerFactory()
    notifications.notify(customer, "a", "A", "B", dedup_key="a", channels=["email"])
    with db.session.begin_nested():
        db.session.flush()
    assert sent == []  # SQLAlchemy fires after_commit for the savepoint; nothing may run
    db.session.rollback()
    db.session.commit()
    assert sent == [] and rows() == []
