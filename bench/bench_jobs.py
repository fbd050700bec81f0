"""Job throughput (issue 8 target: 10k notification jobs drained by 2 RQ workers at >= 500
jobs/s, with a fake SMTP sink).

Run: .venv/bin/python bench/bench_jobs.py [--jobs 10000] [--workers 2]
Uses its own PostgreSQL database and Redis db 13 (both emptied), and a local SMTP sink
(aiosmtpd, in a thread of this process).

All jobs are enqueued (with the options the app uses for a delivery) before the workers
start. The rate is measured from the moment the first worker takes a job to the last row
marked sent (start-up is printed apart); the sink counts messages and distinct subjects, so
a message sent twice or lost shows.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiosmtpd.controller import Controller
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    sink = Sink()
    smtp = Controller(sink, hostname="127.0.0.1", port=free_port())
    smtp.start()
    name = f"fmp_bench_jobs_{os.getpid()}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "bench",
        "FIXMYPHONE_INSTANCE": tempfile.mkdtemp(),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "SMTP_USE_TLS": "false",
    }
    subprocess.run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {name}"], check=True)
    workers = []
    flask = [str(VENV_BIN / "flask"), "--app", "app"]
    try:
        subprocess.run(
            [*flask, "db", "upgrade"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
        )
        os.environ.update({k: env[k] for k in ("SMTP_HOST", "SMTP_PORT", "SMTP_USE_TLS")})
        app = bench_app(
            url,
            REDIS_URL=REDIS_URL,
            SMTP_HOST="127.0.0.1",
            SMTP_PORT=smtp.port,
            SMTP_USE_TLS=False,
        )
        from fixmyphone import jobs
        from fixmyphone.extensions import db
        from fixmyphone.models import Notification, User
        from fixmyphone.queue import get_queue, redis_connection
        from fixmyphone.services.notifications import rq_delivery_options

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
                    for i in range(args.jobs)
                ],
            )
            db.session.commit()
            ids = db.session.scalars(db.select(Notification.id)).all()
            queue = get_queue("default")
            options = rq_delivery_options()  # what the app enqueues: retries, no result kept
            with redis_connection().pipeline() as pipe:
                for nid in ids:
                    queue.enqueue(jobs.deliver_notification, nid, pipeline=pipe, **options)
                pipe.execute()
            print(f"enqueued {queue.count} jobs ({options})")
            db.session.remove()
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            spawned = time.time()
            for _ in range(args.workers):
                workers.append(
                    subprocess.Popen(
                        [*flask, "worker", "--burst", "--no-periodic"],
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
            # The clock starts when the first worker takes a job (start-up is not the rate).
            while queue.count == args.jobs and all(p.poll() is None for p in workers):
                time.sleep(0.002)
            started = time.time()
            for proc in workers:
                proc.wait(timeout=900)
            exited = time.time()
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            sent, last_sent = db.session.execute(
                db.select(db.func.count(), db.func.max(Notification.sent_at)).where(
                    Notification.status == "sent"
                )
            ).one()
        elapsed = (last_sent.timestamp() if last_sent else exited) - started
        print(
            f"machine: {machine()}; {args.workers} workers (flask worker --burst), "
            "SMTP sink on loopback"
        )
        print(
            f"{sent}/{args.jobs} notifications sent; sink received {sink.count} emails "
            f"with {len(sink.subjects)} distinct subjects"
        )
        print(
            f"first job taken -> last row sent: {elapsed:.2f} s = {args.jobs / elapsed:.0f} jobs/s "
            f"(target >= 500 jobs/s); worker start-up {started - spawned:.2f} s, "
            f"spawn -> workers exited {exited - spawned:.2f} s = "
            f"{args.jobs / (exited - spawned):.0f} jobs/s"
        )
        cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        print(
            f"worker CPU (user+sys, start-up included): {cpu:.1f} s = {cpu / args.jobs * 1000:.2f} ms "
            f"per job; load average before the run {load:.2f} (others on the machine slow it)"
        )
        if not (sent == sink.count == len(sink.subjects) == args.jobs):
            sys.exit("FAILED: every notification must reach the sink exactly once")
    finally:
        for proc in workers:
            proc.kill()
        smtp.stop()
        subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


if __name__ == "__main__":
    main()
