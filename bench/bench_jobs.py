"""Delivery throughput (issue 16 target: 10k notifications delivered by 2 RQ workers at >= 1,000
notifications/s, each received once by the SMTP sink; jobs/s reported beside it).

Run: .venv/bin/python bench/bench_jobs.py [--notifications 10000] [--workers 2]
         [--batch 100] [--arrival backlog|commits|single]
Uses its own PostgreSQL database and Redis db 13 (both emptied), and a local SMTP sink
(aiosmtpd) in a process of its own: it costs about 0.35 ms of CPU a message, which a thread
of this process would take from the clock it measures.

The rows are written first, then the jobs enqueued as the app enqueues them:
- ``backlog`` (default): what the outbox sweep hands on, one batch job per NOTIFY_BATCH_SIZE
  rows (``jobs.redeliver``);
- ``commits``: what as many web transactions enqueue on RQ, one drain per notification (a
  full batch hands the next one on, so most of these jobs find nothing left to send);
- ``single``: one job per notification, a batch of one (how every delivery went before).
The clock starts when the first worker takes a job; notifications/s runs to the last row
marked sent, jobs/s to the workers' exit (jobs counted from their logs). The sink counts
messages and distinct subjects, so a message sent twice or lost shows.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, bench_app, free_port, machine

VENV_BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


class Sink:
    """An aiosmtpd handler that counts messages and their distinct subjects."""

    def __init__(self):
        self.count = 0
        self.subjects: set[bytes] = set()

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        headers = envelope.original_content.split(b"\r\n\r\n", 1)[0]
        subject = next((h for h in headers.split(b"\r\n") if h.startswith(b"Subject: ")), b"")
        self.count += 1  # one event-loop thread handles every session: no lock needed
        self.subjects.add(subject)
        return "250 OK"


def run_sink(port: int, pipe) -> None:
    """The SMTP sink's process: serve until asked, answering (messages, distinct subjects,
    CPU seconds) each time the pipe says "count"."""
    from aiosmtpd.controller import Controller

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    pipe.send("ready")
    while pipe.recv() == "count":
        usage = resource.getrusage(resource.RUSAGE_SELF)
        pipe.send((sink.count, len(sink.subjects), usage.ru_utime + usage.ru_stime))
    controller.stop()


def enqueue(arrival: str, ids: list[int], batch: int) -> int:
    """Enqueue the deliveries of ``ids`` as the app would for ``arrival``; the job count."""
    from fixmyphone import jobs
    from fixmyphone.queue import get_queue, redis_connection
    from fixmyphone.services.notifications import rq_delivery_options

    if arrival == "backlog":
        for start in range(0, len(ids), batch):
            jobs.redeliver(ids[start : start + batch])
        return get_queue("default").count
    queue = get_queue("default")
    options = rq_delivery_options()
    with redis_connection().pipeline() as pipe:
        for row_id in ids:
            if arrival == "commits":  # what notifications.enqueue_delivery_after_commit stages
                queue.enqueue("fixmyphone.jobs.deliver_due", pipeline=pipe, **options)
            else:
                queue.enqueue(jobs.deliver_notification, row_id, pipeline=pipe, **options)
        pipe.execute()
    return queue.count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--notifications", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=100, help="NOTIFY_BATCH_SIZE")
    parser.add_argument("--arrival", choices=("backlog", "commits", "single"), default="backlog")
    args = parser.parse_args()
    load = os.getloadavg()[0]
    port = free_port()
    ours, theirs = multiprocessing.Pipe()
    sink = multiprocessing.get_context("spawn").Process(target=run_sink, args=(port, theirs))
    sink.start()
    assert ours.recv() == "ready"
    name = f"fmp_bench_jobs_{os.getpid()}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    logs = Path(tempfile.mkdtemp())
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "bench",
        "FIXMYPHONE_INSTANCE": tempfile.mkdtemp(),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
        "SMTP_USE_TLS": "false",
        "NOTIFY_BATCH_SIZE": str(args.batch),
    }
    subprocess.run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {name}"], check=True)
    workers = []
    flask = [str(VENV_BIN / "flask"), "--app", "app"]
    try:
        subprocess.run(
            [*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True
        )
        app = bench_app(url, REDIS_URL=REDIS_URL, NOTIFY_BATCH_SIZE=args.batch)
        from fixmyphone.extensions import db
        from fixmyphone.models import Notification, User
        from fixmyphone.queue import get_queue, redis_connection

        with app.app_context():
            redis_connection().flushdb()
            user = User(email="bench@example.com", full_name="Bench", role="customer")
            db.session.add(user)
            db.session.flush()
            db.session.execute(
                Notification.__table__.insert(),
                [
                    dict(
                        user_id=user.id,
                        event="status_changed",
                        channel="email",
                        recipient="bench@example.com",
                        subject=f"Update {i}",
                        body="Your repair moved.",
                        context={},
                        status="pending",
                        attempts=0,
                        dedup_key=f"bench:{i}",
                    )
                    for i in range(args.notifications)
                ],
            )
            db.session.commit()
            ids = list(db.session.scalars(db.select(Notification.id).order_by(Notification.id)))
            queued = enqueue(args.arrival, ids, args.batch)
            queue = get_queue("default")
            print(f"{args.notifications} notifications, arrival {args.arrival}: {queued} jobs")
            db.session.remove()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            ours.send("count")
            sink_cpu_before = ours.recv()[2]
            spawned = time.time()
            for n in range(args.workers):
                workers.append(
                    subprocess.Popen(
                        [*flask, "worker", "--burst", "--no-periodic"],
                        cwd=ROOT,
                        env=env,
                        stdout=open(logs / f"worker{n}.log", "w"),  # noqa: SIM115
                        stderr=subprocess.STDOUT,
                    )
                )
            # The clock starts when the first worker takes a job (start-up is not the rate).
            while queue.count == queued and all(p.poll() is None for p in workers):
                time.sleep(0.002)
            started = time.time()
            for proc in workers:
                proc.wait(timeout=900)
            exited = time.time()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            ours.send("count")
            received, distinct, sink_cpu = ours.recv()
            sent, last_sent = db.session.execute(
                db.select(db.func.count(), db.func.max(Notification.sent_at)).where(
                    Notification.status == "sent"
                )
            ).one()
        jobs_done = sum(
            (logs / f"worker{n}.log").read_text().count("Job OK") for n in range(args.workers)
        )
        to_last_sent = (last_sent.timestamp() if last_sent else exited) - started
        to_exit = exited - started
        print(
            f"machine: {machine()}; {args.workers} workers (flask worker --burst), batch "
            f"{args.batch}, SMTP sink (aiosmtpd) in its own process on loopback; "
            f"load average before the run {load:.2f}"
        )
        print(
            f"{sent}/{args.notifications} notifications sent; the sink received {received} "
            f"emails with {distinct} distinct subjects"
        )
        print(
            f"notifications: first job taken -> last row sent {to_last_sent:.2f} s = "
            f"{args.notifications / to_last_sent:.0f} notifications/s (target >= 1,000)"
        )
        print(
            f"jobs: {jobs_done} run, first job taken -> workers exited {to_exit:.2f} s = "
            f"{jobs_done / to_exit:.0f} jobs/s; worker start-up {started - spawned:.2f} s"
        )
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        print(
            f"CPU (user+sys): workers {cpu:.1f} s (start-up included) = "
            f"{cpu / args.notifications * 1000:.2f} ms a notification; sink "
            f"{sink_cpu - sink_cpu_before:.1f} s = "
            f"{(sink_cpu - sink_cpu_before) / args.notifications * 1000:.2f} ms a message"
        )
        if not (sent == received == distinct == args.notifications):
            sys.exit("FAILED: every notification must reach the sink exactly once")
    finally:
        for proc in workers:
            proc.kill()
        ours.send("stop")
        sink.join(timeout=10)
        subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


if __name__ == "__main__":
    main()
