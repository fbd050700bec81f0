"""What a delivery costs and what keeps it cheap (issue 8: 10k jobs drained at speed): one SMTP
connection per sender, reused and replaced when the server drops it; a claim and an outcome
written outside a transaction; fewer Redis round trips per RQ job; and still exactly once."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from fixmyphone import jobs
from fixmyphone.extensions import db
from fixmyphone.models import Notification
from fixmyphone.services import delivery
from fixmyphone.worker import make_worker

from ..factories import CustomerFactory
from .test_outbox import on_postgres, pending_email, race_two_deliveries, rows


@pytest.fixture
def app_settings(smtp_settings):
    return smtp_settings


def test_one_smtp_connection_carries_many_messages_and_is_replaced_when_dropped(app, smtp_sink):
    customer = CustomerFactory()
    ids = [pending_email(customer, f"k{n}").id for n in range(4)]
    assert jobs.deliver_notification(ids[0]) and jobs.deliver_notification(ids[1])
    assert (smtp_sink.connections, len(smtp_sink.messages)) == (1, 2)

    smtp_sink.drop_connections()  # the server's idle timeout
    assert jobs.deliver_notification(ids[2]) and jobs.deliver_notification(ids[3])
    assert (smtp_sink.connections, len(smtp_sink.messages)) == (2, 4)
    subjects = sorted(m["message"]["Subject"] for m in smtp_sink.messages)
    assert subjects == ["Hello"] * 4  # each message once, none lost with the dropped socket
    assert [r.status for r in rows()] == ["sent"] * 4


def test_an_idle_connection_is_checked_before_use(app, smtp_sink, monkeypatch):
    monkeypatch.setattr(delivery.smtp_connections, "idle_check_seconds", 0.0)
    customer = CustomerFactory()
    first, second = (pending_email(customer, key).id for key in ("a", "b"))
    assert jobs.deliver_notification(first)
    smtp_sink.drop_connections()
    assert jobs.deliver_notification(second)  # NOOP failed: a new connection, no error
    assert (smtp_sink.connections, len(smtp_sink.messages)) == (2, 2)


def test_a_refused_recipient_keeps_the_connection_and_other_failures_close_it(app, smtp_sink):
    customer = CustomerFactory()
    refused, fine = pending_email(customer, "r"), pending_email(customer, "f")
    smtp_sink.refuse.add(refused.recipient)
    assert jobs.deliver_notification(refused.id) is False
    smtp_sink.refuse.clear()
    assert jobs.deliver_notification(fine.id) is True
    assert smtp_sink.connections == 1
    assert [(r.status, r.attempts) for r in rows()] == [("failed", 1), ("sent", 1)]


def test_close_all_says_quit(app, smtp_sink):
    assert jobs.deliver_notification(pending_email(CustomerFactory()).id)
    delivery.smtp_connections.close_all()
    assert smtp_sink.quits == 1


@pytest.mark.redis
def test_the_worker_reuses_one_connection_and_closes_it_when_it_stops(
    app, require_redis, smtp_sink
):
    from fixmyphone.services import notifications

    app.config.update(REDIS_URL=require_redis, JOBS_INLINE=False)
    app.extensions.pop("fixmyphone_redis", None)
    customer = CustomerFactory()
    for n in range(5):
        notifications.notify(
            customer, "quote_sent", f"Q{n}", "B", dedup_key=f"q{n}", channels=["email"]
        )
    db.session.commit()
    make_worker(app, ["default"]).work(burst=True)
    assert (len(smtp_sink.messages), smtp_sink.connections, smtp_sink.quits) == (5, 1, 1)
    assert {r.status for r in rows()} == {"sent"}


def test_racing_workers_send_each_row_once(app, monkeypatch):
    race_two_deliveries(app, monkeypatch, rounds=30, pause=0)


@pytest.mark.postgres
def test_racing_workers_send_each_row_once_on_postgres(require_postgres, tmp_path, monkeypatch):
    on_postgres(
        require_postgres,
        tmp_path,
        lambda app: race_two_deliveries(app, monkeypatch, rounds=30, pause=0),
    )


@pytest.mark.postgres
def test_a_delivery_is_three_statements_outside_a_transaction(
    require_postgres, tmp_path, monkeypatch
):
    """Claim (WITH ... UPDATE ... RETURNING), the recipient, the outcome: no BEGIN or COMMIT
    round trips around them (it used to be two transactions and five statements)."""
    monkeypatch.setattr(delivery, "send", lambda row: row.user)

    def check(app):
        row_id = pending_email(CustomerFactory()).id
        db.session.remove()
        seen: list[tuple[str, bool]] = []

        def remember(conn, cursor, statement, parameters, context, executemany):
            seen.append((statement.split()[0].upper(), cursor.connection.autocommit))

        event.listen(db.engine, "before_cursor_execute", remember)
        try:
            with app.app_context():
                assert jobs.deliver_notification(row_id) is True
        finally:
            event.remove(db.engine, "before_cursor_execute", remember)
        assert seen == [("WITH", True), ("SELECT", True), ("UPDATE", True)]
        row = db.session.get(Notification, row_id)
        assert (row.status, row.attempts, row.claimed_at) == ("sent", 1, None)
        # The connection went back to the pool in its normal, transactional mode.
        with db.engine.connect() as conn:
            assert conn.connection.dbapi_connection.autocommit is False
            assert conn.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1

    on_postgres(require_postgres, tmp_path, check)


@pytest.mark.redis
def test_the_worker_skips_heartbeats_that_one_just_sent_covers(app, require_redis, monkeypatch):
    app.config.update(REDIS_URL=require_redis)
    app.extensions.pop("fixmyphone_redis", None)
    worker = make_worker(app, ["default"])
    sent: list[int] = []
    original = type(worker).__mro__[1].heartbeat

    def counting(self, timeout=None, pipeline=None):
        sent.append(timeout or self.worker_ttl + 60)
        return original(self, timeout, pipeline=pipeline)

    monkeypatch.setattr(type(worker).__mro__[1], "heartbeat", counting)
    worker.register_birth()
    try:
        worker.heartbeat()
        worker.heartbeat()  # covered by the one just sent
        with worker.connection.pipeline() as pipe:
            worker.heartbeat(100, pipeline=pipe)  # a job's shorter time to live: always sent
            pipe.execute()
        worker.heartbeat()  # the last one set 100 s: this must go out
        assert sent == [worker.worker_ttl + 60, 100, worker.worker_ttl + 60]
        assert worker.connection.ttl(worker.key) > 100

        writes: list[str] = []
        monkeypatch.setattr(worker.connection, "hset", lambda *a, **k: writes.append(a[2]))
        worker.set_state("idle")
        worker.set_state("idle")
        assert writes == ["idle"]
    finally:
        worker.register_death()


@pytest.mark.parametrize(
    "value",
    [
        "Update 12",
        "  spaced   out  ",
        "=?utf-8?q?looks_encoded?=",
        "x" * 69,  # "Subject: " + 69 = 78, the longest line written as it is
        "x" * 70,
        "a long subject that goes on " * 4,
        "Réparation terminée",
        "tab\there",
        "bell\x07",
        "",
    ],
)
def test_headers_are_written_as_compat32_writes_them(value):
    """The shortcut for short printable ASCII values changes no byte of any header."""
    from email.policy import compat32

    for policy in (delivery.HEADERS, delivery.HEADERS.clone(linesep="\r\n")):
        plain = compat32.clone(linesep=policy.linesep)
        assert policy.fold("Subject", value) == plain.fold("Subject", value)
        assert policy.fold_binary("Subject", value) == plain.fold_binary("Subject", value)


def test_a_message_with_an_attachment_keeps_its_parts_apart(app, monkeypatch):
    from email import message_from_bytes
    from email import policy as email_policy

    row = pending_email(CustomerFactory())
    monkeypatch.setattr(delivery, "attachments", lambda row: [("receipt-1.pdf", b"%PDF-1.4 =_")])
    parsed = message_from_bytes(delivery.render_email(row).as_bytes(), policy=email_policy.default)
    assert parsed.get_content_type() == "multipart/mixed"
    alternative, pdf = parsed.iter_parts()
    assert [p.get_content_type() for p in alternative.iter_parts()] == ["text/plain", "text/html"]
    assert (pdf.get_filename(), pdf.get_content()) == ("receipt-1.pdf", b"%PDF-1.4 =_")
    assert parsed["Subject"] == "Hello"
