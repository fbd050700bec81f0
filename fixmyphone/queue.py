"""Enqueue jobs after the current transaction commits: on RQ with Redis, in-process without.

A job is staged in the session; nothing runs if the transaction rolls back. Job functions take
ids, never objects, so they can reload what they need in their own session.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from sqlalchemy import event
from sqlalchemy.orm import Session
from werkzeug.utils import import_string

from .extensions import db
from .observability import current_request_id

log = logging.getLogger(__name__)
_KEY = "fixmyphone_jobs"


def enqueue_after_commit(
    func: Callable[..., Any] | str, *args: Any, queue: str = "default", **options: Any
) -> None:
    """Run ``func(*args)`` once the current transaction commits.

    ``func`` is a job function or its dotted name ("fixmyphone.jobs.deliver_due"):
    services name their jobs so that they never import the jobs module above them.
    ``options`` (e.g. ``retry=Retry(...)``, ``job_timeout=``) go to RQ's ``enqueue``; they are
    ignored when the job runs in-process.
    """
    session = db.session()
    if not session.in_transaction():
        # Begin now so that a rollback (even with no SQL sent yet) drops the job.
        session.begin()
    db.session.info.setdefault(_KEY, []).append((func, args, queue, options))


def uses_rq(app: Flask) -> bool:
    """True when jobs go to RQ (Redis configured and not forced in-process)."""
    return bool(app.config["REDIS_URL"]) and not app.config["JOBS_INLINE"]


def redis_connection(app: Flask | None = None):
    """A Redis client for the configured REDIS_URL (one per app)."""
    from redis import Redis  # loaded on first use: only when jobs go to Redis (not SQLite)

    app = app or current_app._get_current_object()
    conn = app.extensions.get("fixmyphone_redis")
    if conn is None:
        conn = Redis.from_url(app.config["REDIS_URL"], socket_timeout=5, socket_connect_timeout=2)
        app.extensions["fixmyphone_redis"] = conn
    return conn


def get_queue(name: str = "default", app: Flask | None = None):
    """The named RQ queue on the app's Redis (jobs carry the current request id)."""
    return _queue_class()(name, connection=redis_connection(app))


@functools.cache
def _queue_class():
    from rq import Queue  # loaded on first use: only when jobs go to Redis (not SQLite)

    class RequestIdQueue(Queue):
        """Stamps each job with the id of the request that caused it, for the worker's logs."""

        def create_job(self, *args, **kwargs):
            rid = current_request_id()
            if rid:
                kwargs["meta"] = {**(kwargs.get("meta") or {}), "request_id": rid}
            return super().create_job(*args, **kwargs)

    return RequestIdQueue


def dispatch(
    app: Flask,
    func: Callable[..., Any] | str,
    args: tuple,
    queue: str = "default",
    options: dict | None = None,
) -> None:
    """Hand one job to RQ, or run it now in a fresh app context (fresh session)."""
    if uses_rq(app):
        try:
            get_queue(queue, app).enqueue(func, *args, **(options or {}))
        except Exception:  # Redis down: the outbox sweep picks the work up later.
            log.warning("could not enqueue %s%r; left for the sweep", _name(func), args)
        return
    if isinstance(func, str):
        func = import_string(func)
    with app.app_context():
        try:
            func(*args)
        except Exception:
            log.exception("in-process job %s%r failed", _name(func), args)
            db.session.rollback()


def _name(func: Callable[..., Any] | str) -> str:
    return func if isinstance(func, str) else func.__name__


def install_job_hooks() -> None:
    """Run staged jobs after a commit and drop them on rollback (for every session)."""
    for name, hook in (("after_commit", _run_staged_jobs), ("after_soft_rollback", _drop_staged)):
        if not event.contains(Session, name, hook):
            event.listen(Session, name, hook)


def _run_staged_jobs(session: Session) -> None:
    if session.in_nested_transaction():
        # A savepoint was released (SQLAlchemy fires after_commit for it too): the outer
        # transaction is still open, so its jobs must wait for the real commit.
        return
    jobs = session.info.pop(_KEY, None)
    if not jobs:
        return
    app = current_app._get_current_object()
    for func, args, queue, options in jobs:
        dispatch(app, func, args, queue, options)


def _drop_staged(session: Session, previous_transaction: Any) -> None:
    if previous_transaction.parent is None:
        session.info.pop(_KEY, None)
