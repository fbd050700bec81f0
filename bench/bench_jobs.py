"""Job throughput (issue 8 target: 10k notification jobs drained by 2 RQ workers at >= 500
jobs/s, with a fake SMTP sink).

Run: .venv/bin/python bench/bench_jobs.py [--jobs 10000] [--workers 2]
Uses its own PostgreSQL database and Redis db 13 (both emptied), and a local SMTP sink.
"""

from __future__ import annotations

import argparse
import os
import socketserver
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from common import ROOT, bench_app, machine

VENV_BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


class Sink(socketserver.StreamRequestHandler):
    """The least an SMTP server must say; counts messages."""

    def handle(self):
        w = self.wfile.write
        w(b"220 sink\r\n")
        while line := self.rfile.readline():
            cmd = line.strip().upper()
            if cmd.startswith(b"EHLO"):
                w(b"250-sink\r\n250 8BITMIME\r\n")
            elif cmd == b"DATA":
                w(b"354 go\r\n")
                while self.rfile.readline() not in (b".\r\n", b""):
                    pass
                self.server.count += 1
                w(b"250 ok\r\n")
            elif cmd == b"QUIT":
                w(b"221 bye\r\n")
                return
            else:
                w(b"250 ok\r\n")


class SinkServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    count = 0


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    sink = SinkServer(("127.0.0.1", 0), Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    name = f"fmp_bench_jobs_{os.getpid()}"
    url = f"postgresql://postgres@127.0.0.1:5432/{name}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "bench",
        "FIXMYPHONE_INSTANCE": tempfile.mkdtemp(),
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.server_address[1]),
        "SMTP_USE_TLS": "false",
    }
    subprocess.run(["psql", ADMIN_URL, "-qc", f"CREATE DATABASE {name}"], check=True)
    workers = []
    try:
        subprocess.run(
            [str(VENV_BIN / "flask"), "--app", "app", "db", "upgrade"],
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
            SMTP_PORT=sink.server_address[1],
            SMTP_USE_TLS=False,
        )
        from fixmyphone import jobs
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
                    for i in range(args.jobs)
                ],
            )
            db.session.commit()
            ids = db.session.scalars(db.select(Notification.id)).all()
            queue = get_queue("default")
            with redis_connection().pipeline() as pipe:
                for nid in ids:
                    queue.enqueue(jobs.deliver_notification, nid, pipeline=pipe)
                pipe.execute()
            print(f"enqueued {queue.count} jobs")
        started = time.perf_counter()
        for _ in range(args.workers):
            workers.append(
                subprocess.Popen(
                    [str(VENV_BIN / "flask"), "--app", "app", "worker", "--burst", "--no-periodic"],
                    cwd=ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                )
            )
        for proc in workers:
            proc.wait(timeout=600)
        elapsed = time.perf_counter() - started
        with app.app_context():
            sent = db.session.scalar(
                db.select(db.func.count()).where(Notification.status == "sent")
            )
        print(
            f"machine: {machine()}; {args.workers} workers (flask worker --burst), SMTP sink on loopback"
        )
        print(
            f"{sent}/{args.jobs} notifications sent, {sink.count} emails received, in {elapsed:.1f} s "
            f"= {args.jobs / elapsed:.0f} jobs/s (target >= 500 jobs/s; includes worker start-up)"
        )
    finally:
        for proc in workers:
            proc.kill()
        subprocess.run(["psql", ADMIN_URL, "-qc", f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"])


if __name__ == "__main__":
    main()
