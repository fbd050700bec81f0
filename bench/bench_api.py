"""The API against its two floors (issue 16, target: the app >= 80 % of the I/O floor's requests
per second and p99 < 50 ms for GET /api/service-request/{id}/status on PostgreSQL with 100k
requests), plus each app worker's memory after the load.

Three servers, each under gunicorn.conf.py with the same workers and production settings:
- the constant floor (floor_app.py): bare Flask answering constant JSON, no I/O;
- the I/O floor (io_floor_app.py): bare Flask + PyJWT + psycopg running the app's own two
  statements and answering the same JSON, byte for byte (checked before measuring);
- the app.
Each is driven in turn by `wrk -t2 -c32`.

Run (needs PostgreSQL on 127.0.0.1 and `apt-get install wrk`):
    .venv/bin/python bench/bench_api.py [--requests 100000] [--duration 15] [--workers N]
    .venv/bin/python bench/bench_api.py --cpu 3000
``--cpu N`` measures in-process instead, without gunicorn or wrk: CPU time per request
(time.process_time over N calls of Flask's test client, best of three) for the three apps, then
the app's CPU per hook. CPU time is what a shared, loaded machine still measures fairly.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib import request as urlrequest

from common import (
    ROOT,
    database_arguments,
    filled_database,
    first_row,
    free_port,
    machine,
)

VENV_BIN = Path(sys.executable).parent
SERVERS = (
    ("constant floor (bare Flask, constant JSON)", "floor_app:app"),
    ("I/O floor (Flask + PyJWT + psycopg, same SQL)", "io_floor_app:app"),
    ("the app", "app:app"),
)
STATUS_URL = "/api/service-request/{id}/status"


def production_env(env: dict) -> dict:
    """The app's production settings, without per-request access logs (the floors write none)."""
    env = {
        **env,
        "FIXMYPHONE_CONFIG": "production",
        "LOG_LEVEL": "WARNING",
        "SECRET_KEY": "bench-secret-key-of-a-realistic-length-0123456789",
        "LOGIN_RATE_LIMIT": "1000 per minute",
    }
    env.pop("REDIS_URL", None)
    env.pop("JWT_SECRET_KEY", None)
    return env


def customer_request(url: str) -> tuple[int, str, int]:
    """(user id, email, request id) of a generated customer with a repair in progress."""
    return first_row(
        url,
        "SELECT u.id, u.email, r.id FROM service_requests r "
        "JOIN users u ON u.id = r.customer_id "
        "WHERE r.status = 'in_progress' ORDER BY r.id LIMIT 1",
    )


def api_token(base: str, email: str, password: str = "bench-password") -> str:
    """An Authorization header for ``email``, from the API's own login at ``base``."""
    login = urlrequest.Request(
        f"{base}/api/auth/login",
        data=json.dumps({"email": email, "password": password}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    return "Bearer " + json.loads(urlrequest.urlopen(login).read())["access_token"]


def check_same_statements() -> None:
    """The I/O floor's SQL must be the app's own, as SQLAlchemy renders it for psycopg."""
    # Imported here: the app's modules read the environment main() has just set.
    import io_floor_app
    from sqlalchemy.dialects.postgresql import psycopg as pg

    from fixmyphone.services import repairs, tokens

    dialect = pg.dialect()
    app_sql = [str(tokens.CALLER_AND_FAMILY.compile(dialect=dialect))]
    floor_sql = [io_floor_app.CALLER_AND_FAMILY]
    for column, stmt in repairs.STATUS_BY_SCOPE.items():
        app_sql.append(str(stmt.compile(dialect=dialect)))
        floor_sql.append(io_floor_app.STATUS_BY_SCOPE[column])
    if app_sql != floor_sql:
        raise SystemExit(
            "io_floor_app.py's SQL differs from the app's; copy it again:\n" + "\n\n".join(app_sql)
        )


# ---------------------------------------------------------------- under gunicorn and wrk


def wait_up(url: str) -> None:
    for _ in range(150):
        try:
            urlrequest.urlopen(url, timeout=1)
            return
        except urlrequest.HTTPError:
            return  # it answers (a 404 on / for the I/O floor)
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not start")


def gunicorn(app: str, port: int, workers: int, env: dict, log) -> subprocess.Popen:
    """The production gunicorn settings (gunicorn.conf.py) for every server, so they differ
    only in the app they serve."""
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
            "GUNICORN_GRACEFUL_TIMEOUT": "5",  # stopping only: wrk has gone by then
        },
        stdout=subprocess.DEVNULL,
        stderr=log,
    )


def _ms(text: str, label: str) -> float:
    found = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", text)
    return float(found.group(1)) * {"us": 0.001, "ms": 1, "s": 1000}[found.group(2)]


def wrk(url: str, duration: int, headers: dict | None = None) -> dict:
    cmd = ["wrk", "-t2", "-c32", f"-d{duration}s", "--latency"]
    for key, value in (headers or {}).items():
        cmd += ["-H", f"{key}: {value}"]
    out = subprocess.run([*cmd, url], check=True, capture_output=True, text=True).stdout
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": _ms(out, "50%"),
        "p99_ms": _ms(out, "99%"),
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


def get(url: str, token: str) -> bytes:
    with urlrequest.urlopen(urlrequest.Request(url, headers={"Authorization": token})) as r:
        assert r.status == 200, (url, r.status)
        return r.read()


def under_load(args, url: str, env: dict, log_path: Path) -> None:
    env = production_env(env)
    _user_id, email, request_id = customer_request(url)
    ports = [free_port() for _ in SERVERS]
    procs = []
    with open(log_path, "w") as log:
        try:
            for (_label, target), port in zip(SERVERS, ports, strict=True):
                procs.append(gunicorn(target, port, args.workers, env, log))
            for port in ports:
                wait_up(f"http://127.0.0.1:{port}/healthz")
            base = [f"http://127.0.0.1:{port}" for port in ports]
            token = api_token(base[2], email)
            path = STATUS_URL.format(id=request_id)
            urls = [f"{base[0]}/", f"{base[1]}{path}", f"{base[2]}{path}"]
            app_body, floor_body = get(urls[2], token), get(urls[1], token)
            if app_body != floor_body:
                raise SystemExit(f"bodies differ:\napp   {app_body!r}\nfloor {floor_body!r}")
            print(f"same body from the I/O floor and the app ({len(app_body)} bytes)")

            results = []
            for target in urls:
                wrk(target, 3, {"Authorization": token})  # warm up
                results.append(wrk(target, args.duration, {"Authorization": token}))
            memory = rss_mb(procs[2].pid)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()

    print(
        f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}; gunicorn.conf.py with "
        f"{args.workers} workers each; wrk -t2 -c32 -d{args.duration}s; "
        f"{args.requests} requests on PostgreSQL"
    )
    for (label, _target), r in zip(SERVERS, results, strict=True):
        print(
            f"  {label:48s} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:5.1f} ms  "
            f"p99 {r['p99_ms']:5.1f} ms  non-2xx {r['non_2xx']}"
        )
    constant, io_floor, app = results
    print(
        f"app / I/O floor: {app['rps'] / io_floor['rps']:.0%} (target >= 80 %); "
        f"app / constant floor: {app['rps'] / constant['rps']:.0%}; "
        f"app p99 {app['p99_ms']:.1f} ms (target < 50 ms)"
    )
    print("app worker RSS after the load: " + ", ".join(f"{m:.0f} MB" for m in memory))


# ---------------------------------------------------------------- in-process CPU


def cpu_per_request(client, path: str, headers: dict, calls: int) -> float:
    """Milliseconds of this process's CPU per request, best of three rounds of ``calls``."""
    for _ in range(200):
        client.get(path, headers=headers)
    best = float("inf")
    for _ in range(3):
        started = time.process_time()
        for _ in range(calls):
            client.get(path, headers=headers)
        best = min(best, (time.process_time() - started) / calls * 1000)
    return best


def hook_split(app, client, path: str, headers: dict, calls: int) -> list[tuple[float, str]]:
    """The app's CPU per request in each request hook, the session interface and the view."""
    totals: dict[str, float] = {}

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*a, **kw):
            started = time.process_time()
            try:
                return fn(*a, **kw)
            finally:
                totals[name] = totals.get(name, 0.0) + time.process_time() - started

        return wrapper

    def name_of(kind, fn):
        target = getattr(fn, "func", fn)  # functools.partial
        return f"{kind}: {target.__module__}.{target.__qualname__}"

    for kind, hooks in (
        ("before_request", app.before_request_funcs),
        ("after_request", app.after_request_funcs),
        ("teardown_request", app.teardown_request_funcs),
        ("teardown_appcontext", {None: app.teardown_appcontext_funcs}),
    ):
        for funcs in hooks.values():
            funcs[:] = [timed(name_of(kind, f), f) for f in funcs]
    endpoint = app.url_map.bind("localhost").match(path)[0]
    app.view_functions[endpoint] = timed("the view (auth, SQL, JSON)", app.view_functions[endpoint])
    interface = app.session_interface
    interface.open_session = timed("session: open", interface.open_session)
    interface.save_session = timed("session: save", interface.save_session)
    app.wsgi_app = timed("all of Flask (wsgi_app)", app.wsgi_app)
    cpu_per_request(client, path, headers, calls)
    totals.clear()
    started = time.process_time()
    for _ in range(calls):
        client.get(path, headers=headers)
    totals["all (with the test client)"] = time.process_time() - started
    return sorted(((v / calls * 1000, k) for k, v in totals.items()), reverse=True)


def in_process(args, url: str, env: dict) -> None:
    # Imported now: the app is built, at import, from the environment main() has set.
    import floor_app
    import io_floor_app

    from app import app
    from fixmyphone.extensions import db
    from fixmyphone.models import User
    from fixmyphone.services import tokens

    user_id, _email, request_id = customer_request(url)
    with app.app_context():
        token = tokens.start_session(db.session.get(User, user_id)).access_token
        db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    path = STATUS_URL.format(id=request_id)
    clients = [floor_app.app.test_client(), io_floor_app.app.test_client(), app.test_client()]
    bodies = [client.get(path, headers=headers).data for client in clients[1:]]
    if bodies[0] != bodies[1]:
        raise SystemExit(f"bodies differ:\nfloor {bodies[0]!r}\napp   {bodies[1]!r}")
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}; in-process, {args.cpu}")
    print("calls per round, best of 3; CPU of this process only (not PostgreSQL's)")
    figures = [
        cpu_per_request(client, "/" if i == 0 else path, headers, args.cpu)
        for i, client in enumerate(clients)
    ]
    for (label, _target), ms in zip(SERVERS, figures, strict=True):
        print(f"  {label:48s} {ms:6.3f} ms CPU a request")
    print(f"  the app's extra over the I/O floor: {figures[2] - figures[1]:.3f} ms")
    print("the app, per hook (ms CPU a request):")
    for ms, name in hook_split(app, clients[2], path, headers, args.cpu):
        print(f"  {ms:6.3f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser()
    database_arguments(parser, requests=100_000)
    parser.add_argument("--duration", type=int, default=15)
    # gunicorn.conf.py's own default: (2 x cores) + 1 sync workers.
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument("--cpu", type=int, metavar="N", help="in-process CPU per request")
    args = parser.parse_args()
    if not args.cpu and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with filled_database("api", args, analyze=True) as (url, env):
        # This process imports the app's modules too (the SQL check, --cpu): same settings.
        os.environ.update(production_env(env))
        check_same_statements()
        if args.cpu:
            in_process(args, url, env)
        else:
            under_load(args, url, env, Path(env["FIXMYPHONE_INSTANCE"]) / "gunicorn.log")


if __name__ == "__main__":
    main()
