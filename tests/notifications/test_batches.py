"""Delivery in batches (issue 16, point 3): one job claims up to NOTIFY_BATCH_SIZE due rows in
one statement, sends them on one SMTP connection and writes each row's outcome; a failing row
gets its own retry, a crashed claim is taken back, and racing workers never send a row twice."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from fixmyphone import jobs
from fixmyphone.extensions import db
from fixmyphone.models import Notification, utcnow
from fixmyphone.queue import get_queue
from fixmyphone.services import delivery, notifications, outbox
from fixmyphone.worker import make_worker

from ..factories import CustomerFactory, ServiceRequestFactory
from ..querycount import count_queries
from .test_outbox import on_postgres, pending_email, rows


@pytest.fixture
def app_settings(smtp_settings):
    return {
        **smtp_settings,
        "NOTIFY_BATCH_SIZE": 10,
        "NOTIFY_MAX_ATTEMPTS": 3,
        "NOTIFY_RETRY_INTERVALS": [30, 300],
    }


def kind(statement: str) -> str:
    """ "claim" for the batch's claim (a WITH query picking the rows, an UPDATE returning
    them), else the statement's first word."""
    words = statement.upper().split()
    if words[0] == "WITH" and "UPDATE" in words and "RETURNING" in words and "LIMIT" in words:
        return "claim"
    return words[0]


def pending_emails(count: int, prefix: str = "b") -> list[int]:
    """``count`` pending email rows for customers with repairs, as a busy day leaves them."""
    ids = []
    for n in range(count):
        request = ServiceRequestFactory()
        db.session.flush()
        row = pending_email(request.customer, f"{prefix}{n}")
        row.service_request_id = request.id
        ids.append(row.id)
    db.session.commit()
    db.session.expunge_all()  # a worker starts with nothing loaded
    return ids


@pytest.mark.parametrize("count", [2, 9])
def test_a_batch_is_one_claim_one_connection_and_a_fixed_number_of_statements(
    app, smtp_sink, count
):
    ids = pending_emails(count)
    with count_queries() as queries:
        assert jobs.deliver_due()["sent"] == count
    # The claim, the recipients, the repairs, every row sent: the same for 2 rows or 9.
    assert [kind(q) for q in queries] == ["claim", "SELECT", "SELECT", "UPDATE"], queries
    assert (smtp_sink.connections, len(smtp_sink.messages)) == (1, count)
    assert [(r.id, r.status, r.attempts, r.claimed_at) for r in rows()] == [
        (row_id, "sent", 1, None) for row_id in ids
    ]


def test_a_claim_takes_at_most_its_size_and_only_due_rows(app, smtp_sink):
    ids = pending_emails(12)
    waiting = db.session.get(Notification, ids[0])
    waiting.send_after = utcnow() + timedelta(minutes=5)  # in its backoff
    db.session.commit()
    jobs._statements_commit_themselves()
    assert [r.id for r in outbox.claim_due(5)] == ids[1:6]
    db.session.remove()
    # In-process, a full batch is followed by the next one in the same call.
    assert jobs.deliver_due(batch=5) == {
        "claimed": 6,
        "sent": 6,
        "retrying": 0,
        "failed": 0,
        "released": 0,
    }
    assert [r.status for r in rows()] == ["pending"] + ["sending"] * 5 + ["sent"] * 6


def test_a_failing_row_gets_its_own_retry_while_the_others_are_sent(app, smtp_sink, monkeypatch):
    ids = pending_emails(5)
    flaky, refused = ids[1], ids[3]
    real_send = delivery.send

    def send(row):
        if row.id == flaky:
            raise ConnectionError("greylisted")
        real_send(row)

    monkeypatch.setattr(delivery, "send", send)
    smtp_sink.refuse.add(db.session.get(Notification, refused).recipient)
    before = utcnow()
    result = jobs.deliver_due()
    assert result == {"claimed": 5, "sent": 3, "retrying": 1, "failed": 1, "released": 0}
    by_id = {r.id: r for r in rows()}
    assert {i for i, r in by_id.items() if r.status == "sent"} == set(ids) - {flaky, refused}
    retry = by_id[flaky]
    assert (retry.status, retry.attempts, retry.claimed_at) == ("pending", 1, None)
    assert "ConnectionError: greylisted" in retry.last_error
    assert before + timedelta(seconds=29) < retry.send_after < utcnow() + timedelta(seconds=31)
    assert (by_id[refused].status, by_id[refused].attempts) == ("failed", 1)
    assert "recipient refused" in by_id[refused].last_error
    assert len(smtp_sink.messages) == 3 and smtp_sink.connections == 1

    # Its backoff keeps it out of the next drain; named by its retry (or the sweep) it goes.
    assert jobs.deliver_due()["claimed"] == 0
    monkeypatch.setattr(delivery, "send", real_send)
    assert jobs.deliver_due([flaky]) == {
        "claimed": 1,
        "sent": 1,
        "retrying": 0,
        "failed": 0,
        "released": 0,
    }
    assert [(r.status, r.attempts) for r in rows() if r.id == flaky] == [("sent", 2)]


def test_the_last_attempt_fails_the_row_for_good(app, sent):
    sent.error = ConnectionError("smtp down")
    (row_id,) = pending_emails(1)
    db.session.get(Notification, row_id).attempts = 2
    db.session.commit()
    assert jobs.deliver_due()["failed"] == 1
    (row,) = rows()
    assert (row.status, row.attempts, row.send_after) == ("failed", 3, None)


def test_a_crashed_claim_is_taken_back_by_the_sweep_and_sent_once(app, smtp_sink):
    ids = pending_emails(4)
    jobs._statements_commit_themselves()
    claimed = outbox.claim_due(10)  # ... and the worker dies before sending anything
    db.session.remove()
    assert [r.id for r in claimed] == ids
    assert {(r.status, r.attempts) for r in rows()} == {("sending", 1)}

    assert jobs.deliver_due()["claimed"] == 0  # another worker leaves a live claim alone
    assert jobs.sweep_outbox()["recovered"] == 0  # not yet stale
    later = utcnow() + timedelta(seconds=app.config["OUTBOX_CLAIM_TIMEOUT_SECONDS"] + 1)
    assert jobs.sweep_outbox(now=later) == {"recovered": 4, "failed": 0, "redelivered": 4}
    assert {(r.status, r.attempts) for r in rows()} == {("sent", 2)}
    assert len(smtp_sink.messages) == 4


def test_an_interrupted_batch_writes_what_it_did_and_puts_back_what_it_did_not(
    app, smtp_sink, monkeypatch
):
    ids = pending_emails(5)
    real_send = delivery.send

    def send(row):
        if row.id == ids[2]:
            raise KeyboardInterrupt  # the job killed mid-send (RQ's timeout, a cold stop)
        real_send(row)

    monkeypatch.setattr(delivery, "send", send)
    with pytest.raises(KeyboardInterrupt):
        jobs.deliver_due()
    assert [(r.status, r.attempts) for r in rows()] == [
        ("sent", 1),
        ("sent", 1),
        ("sending", 1),  # in flight: perhaps sent; the sweep takes it back after the timeout
        ("pending", 0),
        ("pending", 0),
    ]


def test_rows_not_reached_in_time_go_back_untried(app, smtp_sink):
    pending_emails(3)
    jobs._statements_commit_themselves()
    claimed = outbox.claim_due(10)
    done = outbox.send_batch(claimed, deadline=time.monotonic() - 1)
    assert (done.sent, done.released) == (0, [r.id for r in claimed])
    assert {(r.status, r.attempts, r.claimed_at) for r in rows()} == {("pending", 0, None)}
    assert smtp_sink.messages == []


def test_one_transaction_stages_one_batch_of_its_own_rows(app, sent):
    (old,) = pending_emails(1, "old")  # left pending (Redis was down): the sweep's business
    customer = CustomerFactory()
    for key in ("a", "b", "c"):
        notifications.notify(customer, "quote_sent", "Q", "B", dedup_key=key, channels=["email"])
    assert sent == []
    with count_queries() as queries:
        db.session.commit()
    assert len(sent) == 3 and old not in {s["id"] for s in sent}
    assert [kind(q) for q in queries].count("claim") == 1
    # The next transaction gets a batch of its own.
    notifications.notify(customer, "quote_sent", "Q", "B", dedup_key="d", channels=["email"])
    db.session.commit()
    assert len(sent) == 4


def test_a_rolled_back_transaction_stages_no_batch(app, sent):
    customer = CustomerFactory()
    notifications.notify(customer, "quote_sent", "Q", "B", dedup_key="a", channels=["email"])
    db.session.rollback()
    notifications.notify(customer, "quote_sent", "Q", "B", dedup_key="b", channels=["email"])
    db.session.commit()
    assert [s["id"] for s in sent] == [r.id for r in rows()]


@pytest.mark.redis
def test_on_rq_a_full_batch_hands_the_next_one_to_another_worker(app, require_redis, sent):
    app.config.update(REDIS_URL=require_redis, JOBS_INLINE=False)
    app.extensions.pop("fixmyphone_redis", None)
    pending_emails(25)
    queue = get_queue("default")
    result = jobs.deliver_due()
    assert (result["sent"], queue.count) == (10, 1)  # the next drain waits for a worker
    assert queue.jobs[0].func_name == "fixmyphone.jobs.deliver_due"
    make_worker(app, ["default"]).work(burst=True)  # 10 more, then the last 5
    assert len(sent) == 25 and len({s["id"] for s in sent}) == 25
    assert {r.status for r in rows()} == {"sent"}


def race_two_drains(app, monkeypatch, count: int = 60) -> None:
    """Two workers drain the same backlog at once, in small batches: each row goes out once.
    Each worker's first send waits for the other's, so both hold a claimed batch at the
    same moment whatever the machine's load."""
    ids = pending_emails(count, "race")
    by_worker: dict[str, list[int]] = {"a": [], "b": []}
    barrier = threading.Barrier(2)
    both_sending = threading.Barrier(2, timeout=60)

    def slow_send(row):
        sent_here = by_worker[threading.current_thread().name]
        if not sent_here:
            both_sending.wait()
        sent_here.append(row.id)
        time.sleep(0.002)

    monkeypatch.setattr(delivery, "send", slow_send)
    claims: list[int] = []
    claim_due = outbox.claim_due

    def counted_claim(limit, ids=None):
        rows = claim_due(limit, ids)
        claims.append(len(rows))
        return rows

    monkeypatch.setattr(outbox, "claim_due", counted_claim)
    errors: list[BaseException] = []

    def worker():
        try:
            with app.app_context():
                barrier.wait()
                while jobs.deliver_due(batch=5)["claimed"]:
                    pass
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, name=name) for name in by_worker]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    sent_ids = by_worker["a"] + by_worker["b"]
    assert sorted(sent_ids) == ids, "a row was sent twice or not at all"
    assert max(claims) == 5, f"a claim took more than its batch: {claims}"
    assert {(r.status, r.attempts) for r in rows()} == {("sent", 1)}


def test_two_workers_draining_at_once_send_each_row_once(app, monkeypatch):
    race_two_drains(app, monkeypatch)


@pytest.mark.postgres
def test_two_workers_draining_at_once_send_each_row_once_on_postgres(
    require_postgres, tmp_path, monkeypatch
):
    """FOR UPDATE SKIP LOCKED: the second claim skips the rows the first one holds."""

    def check(app):
        app.config["NOTIFY_BATCH_SIZE"] = 5
        race_two_drains(app, monkeypatch, count=200)
        compiled = str(outbox._claim_statement(False).compile(dialect=db.engine.dialect)).upper()
        assert "FOR UPDATE SKIP LOCKED" in compiled

    on_postgres(require_postgres, tmp_path, check)


def test_the_claim_is_one_statement_on_each_database(app):
    """One WITH ... UPDATE ... RETURNING, with the row lock clause where the database has one."""
    pending_emails(2)
    jobs._statements_commit_themselves()
    with count_queries() as queries:
        outbox.claim_due(1)
    assert [kind(q) for q in queries] == ["claim", "SELECT", "SELECT"]  # + users, repairs
    db.session.remove()
    assert sorted(r.status for r in rows()) == ["pending", "sending"]
