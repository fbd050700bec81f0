"""The chain topology for real: two gunicorn processes and two RQ workers on one PostgreSQL and
one Redis, driven at once. Afterwards: no double booking, no double move, no negative stock,
every notification delivered exactly once, every payment recorded once.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from functools import partial
from pathlib import Path
from urllib import request as urlrequest
from urllib.error import HTTPError

import pytest
import sqlalchemy as sa

from .notifications.conftest import SmtpSink, free_port

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
WEBHOOK_SECRET = "whsec_multiprocess_test"
CUSTOMERS = 12
SLOT_CAPACITY = 2
# Every wait is on the condition it needs, bounded generously: on a loaded machine (both cores
# busy elsewhere) the processes start, answer and drain many times slower than on a quiet one.
WAIT_SECONDS = 180

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.multiprocess]

SEED = """
from datetime import time
from fixmyphone import create_app
from fixmyphone.extensions import db
from fixmyphone.models import OpeningHours, Part, Payment, ShopSettings
from fixmyphone.services import accounts, repairs

app = create_app()
with app.app_context():
    db.session.add(ShopSettings(slot_minutes=60, default_slot_capacity={capacity}))
    for d in range(7):
        db.session.add(OpeningHours(weekday=d, opens_at=time(8), closes_at=time(18)))
    accounts.create_user(email="boss@shop.test", password="boss-password-1", full_name="Boss", role="admin")
    for i in range({customers}):
        c = accounts.create_user(email=f"c{{i}}@shop.test", password="customer-pass-1", full_name=f"Cust {{i}}")
        r = repairs.create_service_request(c, device_type="phone", brand="Apple", model="iPhone 13",
                                           issue_description="Broken screen")
        db.session.flush()
        db.session.add(Payment(service_request_id=r.id, customer_id=c.id, method="stripe", status="pending",
                               amount=4900, currency="usd", stripe_checkout_session_id=f"cs_test_{{r.id}}"))
    db.session.add(Part(sku="LAST-1", name="Last screen", on_hand=1, reserved=0, price=9000, cost=4000))
    db.session.commit()
"""


def wait_until(missing, what: str, timeout: float = WAIT_SECONDS, every: float = 0.5) -> None:
    """Poll ``missing()`` (what is still missing; empty once the condition holds) until it is
    empty; after ``timeout`` seconds fail, saying what was awaited and what was missing."""
    deadline = time.monotonic() + timeout
    while still := missing():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: still waiting after {timeout:.0f} s for {still}")
        time.sleep(every)


def _no_answer(url: str) -> str:
    """Empty once ``url`` answers HTTP (any status)."""
    try:
        urlrequest.urlopen(url, timeout=5)
    except HTTPError:
        return ""
    except OSError as exc:
        return f"an answer from {url} ({exc})"
    return ""


def _call(base: str, method: str, path: str, body=None, token=None, headers=None, raw=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urlrequest.Request(base + path, data=data, method=method)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    try:
        with urlrequest.urlopen(req, timeout=WAIT_SECONDS) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except HTTPError as exc:
        payload = exc.read()
        try:
            return exc.code, json.loads(payload or b"null")
        except ValueError:
            return exc.code, payload.decode(errors="replace")


def _signed(payload: dict) -> tuple[bytes, dict]:
    body = json.dumps(payload).encode()
    ts = int(time.time())
    sig = hmac.new(WEBHOOK_SECRET.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
    return body, {"Stripe-Signature": f"t={ts},v1={sig}"}


@pytest.fixture
def topology(require_postgres, require_redis, tmp_path):
    sink = SmtpSink().start()
    env = {
        **os.environ,
        "DATABASE_URL": require_postgres,
        "REDIS_URL": require_redis,
        "SECRET_KEY": "multiprocess-secret",
        "FIXMYPHONE_CONFIG": "development",
        "FIXMYPHONE_INSTANCE": str(tmp_path / "instance"),
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(sink.port),
        "SMTP_USE_TLS": "false",
        "LOGIN_RATE_LIMIT": "1000 per minute",
        "PUBLIC_BASE_URL": "http://shop.test",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    flask = [str(VENV_BIN / "flask"), "--app", "app"]
    subprocess.run([*flask, "db", "upgrade"], cwd=ROOT, env=env, check=True, capture_output=True)
    subprocess.run(
        [str(VENV_BIN / "python"), "-c", SEED.format(capacity=SLOT_CAPACITY, customers=CUSTOMERS)],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    procs, bases = [], []
    logs = tmp_path / "logs"
    logs.mkdir()
    try:
        for n in range(2):
            port = free_port()
            log = open(logs / f"web{n}.log", "w")  # noqa: SIM115
            procs.append(
                subprocess.Popen(
                    [
                        str(VENV_BIN / "gunicorn"),
                        "--bind",
                        f"127.0.0.1:{port}",
                        "--workers",
                        "2",
                        "--threads",
                        "4",
                        "--no-control-socket",
                        "--timeout",
                        str(WAIT_SECONDS),
                        "app:app",
                    ],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            bases.append(f"http://127.0.0.1:{port}")
        for n in range(2):
            log = open(logs / f"worker{n}.log", "w")  # noqa: SIM115
            procs.append(
                subprocess.Popen(
                    [*flask, "worker"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
                )
            )
        for base in bases:
            wait_until(partial(_no_answer, base + "/healthz"), f"gunicorn at {base} starting")
        yield {"bases": bases, "db": require_postgres, "sink": sink, "logs": logs}
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        sink.stop()


def test_two_web_processes_and_two_workers_keep_the_shop_consistent(topology):
    a, b = topology["bases"]
    engine = sa.create_engine(topology["db"])
    pool = ThreadPoolExecutor(max_workers=16)

    # Everyone logs in, half through each web process.
    def login(i):
        email = "boss@shop.test" if i < 0 else f"c{i}@shop.test"
        password = "boss-password-1" if i < 0 else "customer-pass-1"
        status, body = _call(
            (a, b)[i % 2], "POST", "/api/auth/login", {"email": email, "password": password}
        )
        assert status == 200, body
        return body["access_token"]

    tokens = list(pool.map(login, range(CUSTOMERS)))
    admin = login(-1)
    with engine.connect() as conn:
        request_ids = [
            r for (r,) in conn.execute(sa.text("SELECT id FROM service_requests ORDER BY id"))
        ]

    # 1. Every customer races for the same slot through both processes.
    day = date.today() + timedelta(days=2)
    start = datetime.combine(day, datetime.min.time().replace(hour=10), tzinfo=UTC).isoformat()
    barrier = threading.Barrier(CUSTOMERS)

    def book(i):
        barrier.wait()
        return _call(
            (a, b)[i % 2],
            "POST",
            "/api/appointment",
            {"service_request_id": request_ids[i], "start": start},
            token=tokens[i],
        )

    results = list(pool.map(book, range(CUSTOMERS)))
    codes = sorted(code for code, _ in results)
    assert codes.count(201) == SLOT_CAPACITY, results
    assert codes.count(409) == CUSTOMERS - SLOT_CAPACITY, results

    # 2. Two staff move each unbooked request at the same moment, one through each process.
    unbooked = [request_ids[i] for i, (code, _) in enumerate(results) if code != 201]

    def move(args):
        rid, base = args
        return rid, _call(
            base,
            "POST",
            f"/api/service-request/{rid}/status",
            {"status": "in_progress", "note": "on the bench"},
            token=admin,
        )

    moves = list(pool.map(move, [(rid, base) for rid in unbooked for base in (a, b)]))
    per_request: dict[int, list[int]] = {}
    for rid, (code, _) in moves:
        per_request.setdefault(rid, []).append(code)
    assert all(sorted(c) == [200, 409] for c in per_request.values()), per_request

    # 3. Stripe delivers each checkout completion twice, to both processes at once.
    def deliver(args):
        rid, base = args
        event = {
            "id": f"evt_mp_{rid}",
            "object": "event",
            "type": "checkout.session.completed",
            "created": int(time.time()),
            "livemode": False,
            "data": {
                "object": {
                    "id": f"cs_test_{rid}",
                    "object": "checkout.session",
                    "mode": "payment",
                    "payment_status": "paid",
                    "status": "complete",
                    "payment_intent": f"pi_mp_{rid}",
                    "amount_total": 4900,
                    "currency": "usd",
                    "metadata": {"request_id": str(rid)},
                }
            },
        }
        body, headers = _signed(event)
        return _call(base, "POST", "/webhooks/stripe", raw=body, headers=headers)

    deliveries = list(pool.map(deliver, [(rid, base) for rid in request_ids for base in (a, b)]))
    assert all(code < 300 for code, _ in deliveries), deliveries

    # Wait until the workers have drained: every notification out of the outbox, every Stripe
    # event processed, every payment recorded.
    def undrained() -> str:
        with engine.connect() as conn:
            pending, events, paid = conn.execute(
                sa.text(
                    "SELECT (SELECT count(*) FROM notifications "
                    "WHERE status NOT IN ('sent', 'failed')), "
                    "(SELECT count(*) FROM stripe_events WHERE status IN ('received', 'deferred')), "
                    "(SELECT count(*) FROM payments WHERE status = 'succeeded')"
                )
            ).one()
        if pending == 0 and events == 0 and paid == CUSTOMERS:
            return ""
        return f"{pending} notifications pending, {events} Stripe events, {paid}/{CUSTOMERS} paid"

    wait_until(undrained, "the workers draining the outbox and the Stripe events")

    with engine.connect() as conn:
        # No double booking: no slot holds more than its capacity.
        worst = conn.execute(
            sa.text(
                "SELECT max(n) FROM (SELECT count(*) AS n FROM appointments "
                "WHERE status = 'scheduled' GROUP BY start) s"
            )
        ).scalar()
        assert worst == SLOT_CAPACITY
        # No double move: each moved request has exactly one in_progress entry.
        doubles = conn.execute(
            sa.text(
                "SELECT count(*) FROM (SELECT service_request_id FROM status_changes "
                "WHERE to_status = 'in_progress' GROUP BY service_request_id HAVING count(*) > 1) d"
            )
        ).scalar()
        assert doubles == 0
        # No negative stock.
        assert (
            conn.execute(
                sa.text(
                    "SELECT count(*) FROM parts WHERE on_hand < 0 OR reserved < 0 "
                    "OR reserved > on_hand"
                )
            ).scalar()
            == 0
        )
        # Every payment recorded once: each request has exactly one succeeded payment of 4900.
        paid = dict(
            conn.execute(
                sa.text(
                    "SELECT service_request_id, sum(amount) FROM payments WHERE status = 'succeeded' "
                    "GROUP BY service_request_id"
                )
            ).all()
        )
        assert paid == {rid: 4900 for rid in request_ids}
        assert conn.execute(sa.text("SELECT count(*) FROM stripe_events")).scalar() == CUSTOMERS
        # Every notification delivered exactly once.
        statuses = dict(
            conn.execute(
                sa.text("SELECT status, count(*) FROM notifications GROUP BY status")
            ).all()
        )
        assert set(statuses) <= {"sent"}, statuses
        emails = (
            conn.execute(sa.text("SELECT id FROM notifications WHERE channel = 'email'"))
            .scalars()
            .all()
        )
    engine.dispose()
    message_ids = [m["message"]["Message-ID"] for m in topology["sink"].messages]
    assert len(message_ids) == len(set(message_ids)), "an email was sent twice"
    assert len(message_ids) == len(emails)
    for name in ("web0", "web1", "worker0", "worker1"):
        log = (topology["logs"] / f"{name}.log").read_text()
        assert "Traceback" not in log, f"{name}:\n{log[-3000:]}"
