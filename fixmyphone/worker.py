"""The RQ worker: every job runs in its own app context, so it has the app's config and a
fresh database session."""

from __future__ import annotations

from flask import Flask
from rq import SimpleWorker

from .queue import get_queue, redis_connection


class AppWorker(SimpleWorker):
    """A worker that wraps each job in an application context."""

    flask_app: Flask

    def perform_job(self, job, queue):  # noqa: D401
        with self.flask_app.app_context():
            return super().perform_job(job, queue)


def make_worker(app: Flask, names: list[str]) -> AppWorker:
    """A worker listening on ``names`` with the app's Redis."""
    worker = AppWorker([get_queue(n, app) for n in names], connection=redis_connection(app))
    worker.flask_app = app
    return worker


def run_worker(app: Flask, names: list[str], burst: bool = False) -> bool:
    """Work the queues (with the scheduler for ``enqueue_at``/``enqueue_in`` jobs)."""
    return make_worker(app, names).work(burst=burst, with_scheduler=True)
