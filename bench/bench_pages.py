"""The pages people use, each against the constant floor in the same run (issue 16, target: every
page >= 15 % of the constant floor's requests per second, p99 < 100 ms at 32 clients, on
PostgreSQL with 100k requests).

Two servers under gunicorn.conf.py with the same workers and production settings: the constant
floor (floor_app.py: bare Flask answering constant JSON) and the app. A customer and an admin log
in through the real login form (CSRF token included) and keep their session cookie; each page
is then driven in turn by `wrk -t2 -c32` as the person who uses it:
- the customer: home, order history, the repair page, the private tracking link;
- the admin: the request list, a request's page, its checkout screen, the dashboard, the
  calendar and the calendar's JSON feed (this week).
Each page must answer 200 to that person before it is measured (not a redirect to the login).

Run (needs PostgreSQL on 127.0.0.1 and `apt-get install wrk`):
    .venv/bin/python bench/bench_pages.py [--requests 100000] [--duration 15] [--workers N]
    .venv/bin/python bench/bench_pages.py --requests 2000 --duration 3      (a smoke run)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from datetime import date, timedelta
from http.client import HTTPConnection
from pathlib import Path
from urllib.parse import urlencode

import sqlalchemy as sa
from bench_api import gunicorn, production_env, wait_up, wrk
from common import (
    ROOT,
    database_arguments,
    engine_for,
    filled_database,
    first_row,
    free_port,
    machine,
)

FLASK = [str(Path(sys.executable).parent / "flask"), "--app", "app"]
PASSWORD = "bench-password"
ADMIN_EMAIL = "bench-admin@example.com"
# Flask-Login's "strong" session protection ties a session to the browser's address and
# user agent: wrk must send the agent the login was made with.
USER_AGENT = "fixmyphone-bench"
TARGET_RATIO, TARGET_P99_MS = 0.15, 100


def add_admin(env: dict, url: str) -> None:
    """An admin to log in as (bench-data makes customers and technicians only)."""
    with engine_for(url).connect() as conn:
        if conn.scalar(sa.text("SELECT 1 FROM users WHERE email = :e"), {"e": ADMIN_EMAIL}):
            return  # a database reused with --database
    subprocess.run(
        [*FLASK, "create-superadmin", "--email", ADMIN_EMAIL, "--password", PASSWORD],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    with engine_for(url).begin() as conn:
        conn.execute(
            sa.text("UPDATE users SET role = 'admin' WHERE email = :e"), {"e": ADMIN_EMAIL}
        )


def a_busy_repair(url: str) -> tuple[str, int, str]:
    """(customer's email, request id, tracking token) of an open repair with a long history."""
    return first_row(
        url,
        "SELECT u.email, r.id, r.tracking_token FROM service_requests r "
        "JOIN users u ON u.id = r.customer_id "
        "WHERE r.status IN ('in_progress', 'ready_for_pickup') "
        "ORDER BY (SELECT count(*) FROM status_changes s "
        "          WHERE s.service_request_id = r.id) DESC, r.id "
        "LIMIT 1",
    )


def _request(port: int, method: str, path: str, cookie: str = "", body: str = ""):
    conn = HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"User-Agent": USER_AGENT}
    if cookie:
        headers["Cookie"] = cookie
    if body:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    conn.request(method, path, body=body or None, headers=headers)
    response = conn.getresponse()
    data = response.read().decode("utf-8", "replace")
    conn.close()
    return response, data


def _session_cookie(response) -> str:
    for header in response.headers.get_all("Set-Cookie") or []:
        if header.startswith("session="):
            return header.split(";", 1)[0]
    raise SystemExit(f"no session cookie in {response.headers}")


def log_in(port: int, email: str) -> str:
    """The session cookie of ``email`` logged in through the login form, CSRF token included."""
    response, html = _request(port, "GET", "/account/login")
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)
    form = urlencode({"csrf_token": token, "email": email, "password": PASSWORD})
    response, _ = _request(port, "POST", "/account/login", _session_cookie(response), form)
    if response.status != 302:
        raise SystemExit(f"logging in as {email} answered {response.status}")
    return _session_cookie(response)


def pages(request_id: int, token: str) -> list[tuple[str, str, str]]:
    """(name, who, path) of every page measured."""
    monday = date.today() - timedelta(days=date.today().weekday())
    week = urlencode({"start": f"{monday}T00:00:00Z", "end": f"{monday + timedelta(7)}T00:00:00Z"})
    return [
        ("home", "customer", "/"),
        ("order history", "customer", "/account/history"),
        ("repair page", "customer", f"/account/repairs/{request_id}"),
        ("tracking link", "customer", f"/track/{token}"),
        ("request list", "admin", "/admin/requests/"),
        ("request page", "admin", f"/admin/requests/view/{request_id}"),
        ("checkout screen", "admin", f"/admin/checkout/repair/{request_id}"),
        ("dashboard", "admin", "/admin/"),
        ("calendar", "admin", "/admin/appointments/calendar"),
        ("calendar feed", "admin", f"/admin/appointments/events?{week}"),
    ]


def run(args, url: str, env: dict, log_path: Path) -> None:
    env = production_env(env)
    add_admin(env, url)
    email, request_id, token = a_busy_repair(url)
    floor_port, app_port = free_port(), free_port()
    servers = []
    with open(log_path, "w") as log:
        try:
            servers.append(gunicorn("floor_app:app", floor_port, args.workers, env, log))
            servers.append(gunicorn("app:app", app_port, args.workers, env, log))
            wait_up(f"http://127.0.0.1:{floor_port}/")
            wait_up(f"http://127.0.0.1:{app_port}/healthz")
            cookies = {"customer": log_in(app_port, email), "admin": log_in(app_port, ADMIN_EMAIL)}
            measured = pages(request_id, token)
            for name, who, path in measured:
                response, _ = _request(app_port, "GET", path, cookies[who])
                if response.status != 200:
                    raise SystemExit(f"{name} ({path}) answered {response.status} to the {who}")
            floor_url = f"http://127.0.0.1:{floor_port}/"
            wrk(floor_url, min(3, args.duration))  # warm up
            floor = wrk(floor_url, args.duration)
            results = []
            for _name, who, path in measured:
                headers = {"Cookie": cookies[who], "User-Agent": USER_AGENT}
                page_url = f"http://127.0.0.1:{app_port}{path}"
                wrk(page_url, min(3, args.duration), headers)  # warm up
                results.append(wrk(page_url, args.duration, headers))
        finally:
            for server in servers:
                server.terminate()
            for server in servers:
                server.wait(timeout=15)

    print(
        f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}; gunicorn.conf.py with "
        f"{args.workers} workers each; wrk -t2 -c32 -d{args.duration}s; "
        f"{args.requests} requests on PostgreSQL"
    )
    print(
        f"  {'constant floor (bare Flask, constant JSON)':42s} {floor['rps']:7.0f} req/s  "
        f"p50 {floor['p50_ms']:6.1f} ms  p99 {floor['p99_ms']:6.1f} ms"
    )
    met = 0
    for (name, who, _path), r in zip(measured, results, strict=True):
        ratio = r["rps"] / floor["rps"]
        ok = ratio >= TARGET_RATIO and r["p99_ms"] < TARGET_P99_MS and not r["non_2xx"]
        met += ok
        print(
            f"  {name + ' (' + who + ')':42s} {r['rps']:7.0f} req/s  p50 {r['p50_ms']:6.1f} ms  "
            f"p99 {r['p99_ms']:6.1f} ms  {ratio:4.0%} of the floor  non-2xx {r['non_2xx']}  "
            f"{'met' if ok else 'MISSED'}"
        )
    print(
        f"{met} of {len(results)} pages meet the target "
        f"(>= {TARGET_RATIO:.0%} of the floor, p99 < {TARGET_P99_MS} ms)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    database_arguments(parser, requests=100_000)
    parser.add_argument("--duration", type=int, default=15, help="seconds of wrk per page")
    # gunicorn.conf.py's own default: (2 x cores) + 1 sync workers.
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with filled_database("pages", args, analyze=True) as (url, env):
        run(args, url, env, Path(env["FIXMYPHONE_INSTANCE"]) / "gunicorn.log")


if __name__ == "__main__":
    main()
