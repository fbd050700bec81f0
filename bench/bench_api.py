"""API throughput against the bare-Flask floor (issue 8, targets: >= 50 % of the floor's
requests per second and p99 < 50 ms for GET /api/service-request/{id}/status on PostgreSQL with
100k requests), plus one gunicorn worker's memory after the load.

Run (needs PostgreSQL on 127.0.0.1 and `apt-get install wrk`):
    .venv/bin/python bench/bench_api.py [--requests 100000] [--duration 15] [--workers N]
It creates (and drops) its own database; it prints both figures, the ratio and the RSS.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib import request as urlrequest

from common import ROOT, fill_database, machine

VENV_BIN = Path(sys.executable).parent
ADMIN_URL = os.environ.get("BENCH_POSTGRES_ADMIN", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def psql(sql: str) -> None:
    subprocess.run(["psql", ADMIN_URL, "-qc", sql], check=True, capture_output=True)


def wait_up(url: str) -> None:
    for _ in range(150):
        try:
            urlrequest.urlopen(url, timeout=1)
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not start")


def gunicorn(app: str, port: int, workers: int, env: dict, log) -> subprocess.Popen:
    """The production gunicorn settings (gunicorn.conf.py) for both servers, so the floor and
    the app differ only in the app they serve."""
    return subprocess.Popen(
        [
            str(VENV_BIN / "gunicorn"),
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--pythonpath",
            f"{ROOT},{ROOT / 'bench'}",
            app,
        ],
        cwd=ROOT,
        env={
            **env,
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_ACCESSLOG": "/dev/null",
            "GUNICORN_LOGLEVEL": "warning",
        },
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def wrk(url: str, duration: int, headers: dict | None = None) -> dict:
    cmd = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", out)
    factor = {"us": 0.001, "ms": 1, "s": 1000}[p99.group(2)]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p99_ms": float(p99.group(1)) * factor,
        "non_2xx": int(errors.group(1)) if errors else 0,
    }


def rss_mb(pid: int) -> list[float]:
    """RSS of each gunicorn worker (children of the master) in MB."""
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split()
    sizes = []
    for child in children:
        status = Path(f"/proc/{child}/status").read_text()
        sizes.append(int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024)
    return sizes


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=15)
    # gunicorn.conf.py's own default: (2 x cores) + 1 sync workers.
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")

    name = f"fmp_bench_api_{os.getpid()}"
    psql(f"CREATE DATABASE {name}")
    instance = tempfile.mkdtemp()
    env = {
        **os.environ,
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{name}",
        # Production settings, without per-request access logs (the floor writes none either).
        "FIXMYPHONE_CONFIG": "production",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench-secret-key-of-a-realistic-length-0123456789",
        "FIXMYPHONE_INSTANCE": instance,
        "LOGIN_RATE_LIMIT": "1000 per minute",
    }
    env.pop("REDIS_URL", None)
    procs = []
    try:
        fill_database(env, args.requests)

        app_port, floor_port = free_port(), free_port()
        log = open(Path(instance) / "gunicorn.log", "w")  # noqa: SIM115 - closed with the dir
        procs.append(gunicorn("app:app", app_port, args.workers, env, log))
        procs.append(gunicorn("floor_app:app", floor_port, args.workers, env, log))
        wait_up(f"http://127.0.0.1:{app_port}/healthz")
        wait_up(f"http://127.0.0.1:{floor_port}/")

        # A customer from the generated chain and one of their requests.
        import sqlalchemy as sa

        engine = sa.create_engine(
            env["DATABASE_URL"].replace("postgresql://", "postgresql+psycopg://")
        )
        with engine.connect() as conn:
            email, request_id = conn.execute(
                sa.text(
                    "SELECT u.email, r.id FROM service_requests r JOIN users u ON u.id = r.customer_id "
                    "WHERE r.status = 'in_progress' ORDER BY r.id LIMIT 1"
                )
            ).one()
        engine.dispose()
        login = urlrequest.Request(
            f"http://127.0.0.1:{app_port}/api/auth/login",
            data=json.dumps({"email": email, "password": "bench-password"}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        token = json.loads(urlrequest.urlopen(login).read())["access_token"]
        url = f"http://127.0.0.1:{app_port}/api/service-request/{request_id}/status"
        check = urlrequest.Request(url, headers={"Authorization": f"Bearer {token}"})
        assert urlrequest.urlopen(check).status == 200

        wrk(f"http://127.0.0.1:{floor_port}/", 3)  # warm up both
        wrk(url, 3, {"Authorization": f"Bearer {token}"})
        floor = wrk(f"http://127.0.0.1:{floor_port}/", args.duration)
        app = wrk(url, args.duration, {"Authorization": f"Bearer {token}"})
        memory = rss_mb(procs[0].pid)
        ratio = app["rps"] / floor["rps"]
        print(
            f"machine: {machine()}; gunicorn.conf.py with {args.workers} workers for both; "
            f"wrk -t2 -c32 -d{args.duration}s"
        )
        print(
            f"floor (bare Flask, constant JSON): {floor['rps']:.0f} req/s, p99 {floor['p99_ms']:.1f} ms"
        )
        print(
            f"GET /api/service-request/{{id}}/status: {app['rps']:.0f} req/s, p99 {app['p99_ms']:.1f} ms, "
            f"non-2xx {app['non_2xx']}"
        )
        print(f"ratio: {ratio:.0%} of the floor (target >= 50 %); p99 target < 50 ms")
        print(
            "gunicorn worker RSS after the load: "
            + ", ".join(f"{m:.0f} MB" for m in memory)
            + " (target < 120 MB)"
        )
    finally:
        for proc in procs:
            proc.terminate()
            proc.wait(timeout=10)
        psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
