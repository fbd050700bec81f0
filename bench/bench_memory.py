"""A gunicorn worker's memory after a mixed load (issue 16, target: every worker under 120 MB
RSS after the pages, the API and the PDFs have all run against it; fpdf2 and the font tools,
loaded on the first PDF, stay allowed: the figure is taken after).

One server: the app under gunicorn.conf.py with production settings (as bench_pages.py starts
it), on PostgreSQL with 100k requests. Against that same server, in turn, each by
`wrk -t2 -c32`:
1. every page of bench_pages.py, as the person who uses it (a customer and an admin logged in
   through the login form);
2. the API's GET /api/service-request/{id}/status with a customer's bearer token (bench_api.py);
3. the PDFs of a repair with an issued invoice and a succeeded payment: the invoice and the
   receipt through the private tracking link and, logged in as the customer, under /documents
   (each checked to answer 200 with application/pdf first).
Every worker's RSS (pid, MB) is printed at start and after each phase, then the largest against
the target. A worker whose pid changes was recycled (gunicorn's max_requests) and says so.

Run (needs PostgreSQL on 127.0.0.1 and `apt-get install wrk`):
    .venv/bin/python bench/bench_memory.py [--requests 100000] [--duration 5] [--workers N]
    .venv/bin/python bench/bench_memory.py --database postgresql://postgres@127.0.0.1/NAME
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from urllib import request as urlrequest

from bench_api import (
    STATUS_URL,
    api_token,
    customer_request,
    gunicorn,
    production_env,
    rss_mb,
    wait_up,
    wrk,
)
from bench_pages import (
    ADMIN_EMAIL,
    USER_AGENT,
    _request,
    a_busy_repair,
    add_admin,
    log_in,
    pages,
)
from common import database_arguments, filled_database, first_row, free_port, machine

TARGET_MB = 120


def a_paid_repair(url: str) -> tuple[str, str, int, int]:
    """(customer's email, tracking token, invoice id, payment id) of a repair with an issued
    invoice and a succeeded payment of that invoice."""
    return first_row(
        url,
        "SELECT u.email, r.tracking_token, i.id, p.id FROM service_requests r "
        "JOIN users u ON u.id = r.customer_id "
        "JOIN invoices i ON i.service_request_id = r.id "
        "     AND i.status = 'issued' AND i.kind = 'invoice' "
        "JOIN payments p ON p.service_request_id = r.id AND p.invoice_id = i.id "
        "     AND p.status = 'succeeded' "
        "ORDER BY r.id, i.id, p.id LIMIT 1",
    )


def _pids(master: int) -> list[int]:
    out = subprocess.run(["pgrep", "-P", str(master)], capture_output=True, text=True).stdout
    return [int(pid) for pid in out.split()]


def workers(master: int) -> list[tuple[int, float]]:
    """(pid, RSS in MB) of each worker: rss_mb's sizes (in pgrep's order), named by pid."""
    for _ in range(5):
        pids = _pids(master)
        sizes = rss_mb(master)
        if pids == _pids(master) and len(sizes) == len(pids):
            return list(zip(pids, sizes, strict=True))
    raise SystemExit("the workers kept changing while their memory was read")


def report(phase: str, measured: list[tuple[int, float]], seen: dict[int, list[float]]) -> None:
    """One line per phase: every worker's RSS, and its change since the last phase."""
    parts = []
    first = not seen
    for pid, mb in measured:
        before = seen.get(pid)
        change = f" ({mb - before[-1]:+.1f})" if before else ("" if first else " (new)")
        parts.append(f"{pid}: {mb:.1f}{change}")
        seen.setdefault(pid, []).append(mb)
    print(f"  RSS after {phase:28s} MB  " + ", ".join(parts), flush=True)


def drive(label: str, base: str, path: str, duration: int, headers: dict) -> None:
    """wrk on one URL, then wait for the requests it left queued: with 32 clients a slow page
    outlasts wrk's 2 s timeout, and the workers go on serving what wrk gave up on."""
    r = wrk(base + path, duration, headers)
    started = time.perf_counter()
    urlrequest.urlopen(f"{base}/healthz", timeout=300).read()  # queued behind the backlog
    drained = time.perf_counter() - started
    print(
        f"    {label:32s} {r['rps']:7.0f} req/s  p99 {r['p99_ms']:7.1f} ms  "
        f"non-2xx {r['non_2xx']}  (queue drained in {drained:.1f} s)",
        flush=True,
    )


def check_pdf(port: int, path: str, cookie: str) -> int:
    response, _ = _request(port, "GET", path, cookie)
    kind = response.headers.get("Content-Type", "")
    if response.status != 200 or not kind.startswith("application/pdf"):
        raise SystemExit(f"{path} answered {response.status} {kind}, not a PDF")
    return int(response.headers.get("Content-Length", 0))


def run(args, url: str, env: dict, log_path: Path) -> None:
    env = production_env(env)
    add_admin(env, url)
    email, request_id, tracking = a_busy_repair(url)
    _user_id, api_email, status_id = customer_request(url)
    payer, payer_tracking, invoice_id, payment_id = a_paid_repair(url)
    port = free_port()
    started = datetime.now()
    print(
        f"{started:%Y-%m-%d %H:%M:%S}; machine: {machine()}, load average "
        f"{os.getloadavg()[0]:.1f}; the app under gunicorn.conf.py with {args.workers} workers; "
        f"wrk -t2 -c32 -d{args.duration}s per URL; {args.requests} requests on PostgreSQL",
        flush=True,
    )
    seen: dict[int, list[float]] = {}
    with open(log_path, "w") as log:
        server = gunicorn("app:app", port, args.workers, env, log)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_up(f"{base}/healthz")
            for _ in range(100):  # every worker forked
                if len(_pids(server.pid)) >= args.workers:
                    break
                time.sleep(0.1)
            report("start-up", workers(server.pid), seen)

            print("  1. pages", flush=True)
            cookies = {"customer": log_in(port, email), "admin": log_in(port, ADMIN_EMAIL)}
            measured = pages(request_id, tracking)
            for name, who, path in measured:
                response, _ = _request(port, "GET", path, cookies[who])
                if response.status != 200:
                    raise SystemExit(f"{name} ({path}) answered {response.status} to the {who}")
            for name, who, path in measured:
                headers = {"Cookie": cookies[who], "User-Agent": USER_AGENT}
                drive(f"{name} ({who})", base, path, args.duration, headers)
            report("the pages", workers(server.pid), seen)

            print("  2. API", flush=True)
            token = api_token(f"http://127.0.0.1:{port}", api_email)
            drive(
                "status (bearer token)",
                base,
                STATUS_URL.format(id=status_id),
                args.duration,
                {"Authorization": token},
            )
            report("the API", workers(server.pid), seen)

            print("  3. PDFs", flush=True)
            payer_cookie = log_in(port, payer)
            pdfs = [
                ("invoice, tracking link", f"/track/{payer_tracking}/invoice/{invoice_id}.pdf", ""),
                ("receipt, tracking link", f"/track/{payer_tracking}/receipt/{payment_id}.pdf", ""),
                ("invoice, logged in", f"/documents/invoice/{invoice_id}.pdf", payer_cookie),
                ("receipt, logged in", f"/documents/receipt/{payment_id}.pdf", payer_cookie),
            ]
            for label, path, cookie in pdfs:
                size = check_pdf(port, path, cookie)
                print(f"    {label}: {path} is a PDF of {size:,} bytes", flush=True)
            for label, path, cookie in pdfs:
                headers = {"User-Agent": USER_AGENT, **({"Cookie": cookie} if cookie else {})}
                drive(label, base, path, args.duration, headers)
            final = workers(server.pid)
            report("the PDFs", final, seen)
        finally:
            server.terminate()
            try:
                server.wait(timeout=20)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()

    largest = max(mb for _pid, mb in final)
    recycled = [pid for pid in seen if pid not in dict(final)]
    print(
        f"{datetime.now():%Y-%m-%d %H:%M:%S} (took {(datetime.now() - started).seconds} s); "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    if recycled:
        print(f"  workers recycled during the run (gone by the end): {recycled}")
    print(
        f"largest worker RSS after all three: {largest:.1f} MB (target < {TARGET_MB} MB): "
        f"{'met' if largest < TARGET_MB else 'MISSED'}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    database_arguments(parser, requests=100_000)
    parser.add_argument("--duration", type=int, default=5, help="seconds of wrk per URL")
    # gunicorn.conf.py's own default: (2 x cores) + 1 sync workers.
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    with filled_database("memory", args, analyze=True) as (url, env):
        instance = Path(env["FIXMYPHONE_INSTANCE"])
        log_path = instance / "gunicorn.log"
        try:
            run(args, url, env, log_path)
        except BaseException:
            if log_path.exists():  # what the server said, before it goes with the directory
                sys.stderr.write(log_path.read_text()[-4000:])
            raise
        finally:
            shutil.rmtree(instance, ignore_errors=True)


if __name__ == "__main__":
    main()
