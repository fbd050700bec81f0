"""The RQ worker: every job runs in its own app context, so it has the app's config and a
fresh database session.

Periodic jobs (outbox sweep, reminders, staff checks) are enqueued by a small loop in every
worker process, but each run is claimed with a Redis ``SET NX`` on the key of its time
window: however many workers run, each periodic job is enqueued once per interval, and it
keeps running as long as at least one worker is alive (no single scheduler to fail over).
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Optional

from flask import Flask
from rq import SimpleWorker

from .jobs import PERIODIC_JOBS
from .observability import request_id_var
from .queue import get_queue, redis_connection
from .services.smtp import smtp_connections

log = logging.getLogger(__name__)
PERIODIC_KEY = "fixmyphone:periodic:{name}:{window}"
TICK_SECONDS = 15


class AppWorker(SimpleWorker):
    """A worker that wraps each job in an application context.

    RQ sends the worker's heartbeat (three Redis round trips) up to three times per job and
    writes its idle state twice; with short jobs that is half the Redis traffic. A heartbeat
    that another one sent less than ``HEARTBEAT_COALESCE_SECONDS`` ago already covers (same
    or longer time to live) is skipped, as is writing the state the worker is already in.
    Heartbeats inside RQ's pipelines always go out (they set a job's shorter time to live).
    """

    flask_app: Flask
    HEARTBEAT_COALESCE_SECONDS = 1.0
    _last_beat: tuple[float, int] = (float("-inf"), 0)  # (monotonic time, time to live)

    def heartbeat(self, timeout=None, pipeline=None):
        ttl = timeout or self.worker_ttl + 60
        at = time.monotonic()
        sent_at, sent_ttl = self._last_beat
        if pipeline is None and at - sent_at < self.HEARTBEAT_COALESCE_SECONDS and sent_ttl >= ttl:
            return
        super().heartbeat(timeout, pipeline=pipeline)
        self._last_beat = (at, ttl)

    def set_state(self, state, pipeline=None):
        if pipeline is None and state == getattr(self, "_state", None):
            return
        super().set_state(state, pipeline=pipeline)

    def perform_job(self, job, queue, *args, **kwargs):  # noqa: D401
        # Log lines of the job carry the id of the web request that enqueued it.
        token = request_id_var.set((job.meta or {}).get("request_id") or f"job-{job.id}")
        try:
            with self.flask_app.app_context():
                return super().perform_job(job, queue, *args, **kwargs)
        finally:
            request_id_var.reset(token)

    def teardown(self) -> None:
        """Close the SMTP connections kept open for deliveries when the worker stops."""
        try:
            super().teardown()
        finally:
            smtp_connections.close_all()


def make_worker(app: Flask, names: list[str]) -> AppWorker:
    """A worker listening on ``names`` with the app's Redis."""
    worker = AppWorker([get_queue(n, app) for n in names], connection=redis_connection(app))
    worker.flask_app = app
    return worker


def periodic_schedule(app: Flask) -> list[tuple[str, object, int]]:
    """(name, job function, interval in seconds) of every periodic job."""
    return [(name, func, app.config[key]) for name, func, key in PERIODIC_JOBS]


def tick_periodic(app: Flask, now: Optional[float] = None, owner: str = "") -> list[str]:
    """Enqueue each periodic job whose current window nobody has claimed yet; returns the
    names this call enqueued. Safe to call from any number of processes at once."""
    conn = redis_connection(app)
    now = time.time() if now is None else now
    enqueued = []
    for name, func, interval in periodic_schedule(app):
        if interval <= 0:
            continue
        window = int(now // interval)
        key = PERIODIC_KEY.format(name=name, window=window)
        if conn.set(key, owner or "worker", nx=True, ex=interval * 2):
            get_queue("low", app).enqueue(func, job_timeout=max(interval, 300))
            enqueued.append(name)
    return enqueued


class PeriodicLoop(threading.Thread):
    """Ticks the periodic jobs every few seconds in the background of a worker process."""

    def __init__(self, app: Flask, owner: str, every: float = TICK_SECONDS):
        super().__init__(name="fixmyphone-periodic", daemon=True)
        self.app = app
        self.owner = owner
        self.every = every
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            try:
                for name in tick_periodic(self.app, owner=self.owner):
                    log.info("enqueued periodic job %s", name)
            except Exception:  # Redis blip: try again next tick.
                log.exception("periodic tick failed")
            self.stopped.wait(self.every)

    def stop(self) -> None:
        self.stopped.set()


def run_worker(app: Flask, names: list[str], burst: bool = False, periodic: bool = True) -> bool:
    """Work the queues with RQ's scheduler (for ``enqueue_at`` jobs) and the periodic loop."""
    worker = make_worker(app, names)
    loop = None
    if periodic and not burst:
        loop = PeriodicLoop(app, owner=worker.name)
        loop.start()
    try:
        return worker.work(burst=burst, with_scheduler=True)
    finally:
        if loop is not None:
            loop.stop()
