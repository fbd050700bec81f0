"""Jobs run after commit: in-process without Redis, on RQ with it; never after a rollback."""

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import User
from fixmyphone.queue import enqueue_after_commit

from .conftest import count_rows

CALLS = []


def remember(value):
    CALLS.append(value)
    # A job runs in its own session and can see what was committed.
    CALLS.append(count_rows(User))


def explode(_value):
    raise RuntimeError("boom")


@pytest.fixture(autouse=True)
def _reset():
    CALLS.clear()


def test_in_process_jobs_run_after_commit_in_their_own_session(app):
    from .factories import UserFactory

    UserFactory()
    enqueue_after_commit(remember, "hello")
    assert CALLS == []
    db.session.commit()
    assert CALLS == ["hello", 1]


def test_jobs_are_dropped_on_rollback(app):
    enqueue_after_commit(remember, "never")
    db.session.rollback()
    db.session.commit()
    assert CALLS == []


def test_a_failing_in_process_job_does_not_break_the_caller(app, caplog):
    enqueue_after_commit(explode, 1)
    db.session.commit()
    assert "in-process job explode" in caplog.text


@pytest.mark.redis
def test_jobs_go_to_rq_when_redis_is_configured(app, require_redis):
    from fixmyphone.queue import get_queue
    from fixmyphone.worker import make_worker

    app.config.update(REDIS_URL=require_redis, JOBS_INLINE=False)
    app.extensions.pop("fixmyphone_redis", None)
    enqueue_after_commit(remember, "via rq")
    db.session.commit()
    assert CALLS == []
    assert get_queue("default").count == 1
    make_worker(app, ["default"]).work(burst=True)
    assert CALLS == ["via rq", 0]


def test_unreachable_redis_does_not_break_the_commit(app, caplog):
    app.config.update(REDIS_URL="redis://127.0.0.1:1/0", JOBS_INLINE=False)
    app.extensions.pop("fixmyphone_redis", None)
    enqueue_after_commit(remember, "lost?")
    db.session.commit()
    assert CALLS == []
    assert "left for the sweep" in caplog.text


@pytest.mark.redis
def test_rq_jobs_carry_the_request_id_into_the_worker(app, require_redis):
    from fixmyphone.observability import current_request_id, request_id_var
    from fixmyphone.queue import get_queue
    from fixmyphone.worker import make_worker

    app.config.update(REDIS_URL=require_redis, JOBS_INLINE=False)
    app.extensions.pop("fixmyphone_redis", None)
    token = request_id_var.set("req-abc123")
    try:
        enqueue_after_commit(remember_request_id)
        db.session.commit()
    finally:
        request_id_var.reset(token)
    job = get_queue("default").jobs[0]
    assert job.meta["request_id"] == "req-abc123"
    make_worker(app, ["default"]).work(burst=True)
    assert CALLS == ["req-abc123"]
    assert current_request_id() is None


def remember_request_id():
    from fixmyphone.observability import current_request_id

    CALLS.append(current_request_id())
