"""The back office's service-request list at scale (issue 8, point 4: with 100k requests and 20k
customers a page of the list, filtered or searched, renders in under 150 ms on PostgreSQL, with
indexes proven by EXPLAIN and text search on a trigram index).

Run: .venv/bin/python bench/bench_admin_list.py [--requests 100000] [--keep] [--database URL]
Creates its own PostgreSQL database (dropped at the end, also on failure, unless --keep), fills
it with bench-data, logs an admin in through the real login form of the real app and times the
list page (median and p95 over --repeat runs after a warm-up) plain, filtered and searched. Then
prints EXPLAIN (ANALYZE, BUFFERS) of the list's and the count's SQL for a search and a filter.
"""

from __future__ import annotations

import argparse
import re
from datetime import timedelta

from common import bench_app, database_arguments, filled_database, machine, timed

TARGET_MS = 150
LIST = "/admin/requests/"
CSRF_RE = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def _login(app, email: str, password: str):
    client = app.test_client()
    client.environ_base["wsgi.url_scheme"] = "https"  # the session cookie is Secure
    html = client.get("/account/login").get_data(as_text=True)
    token = CSRF_RE.search(html).group(1)
    response = client.post(
        "/account/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 302, response.status_code
    return client


def _admin(app) -> tuple[str, str]:
    """A staff admin to browse with (the generator makes customers and technicians only)."""
    from fixmyphone.extensions import db
    from fixmyphone.models import User

    email, password = "bench-admin@example.com", "bench-admin-password"
    with app.app_context():
        if db.session.scalar(db.select(User).where(User.email == email)) is None:
            user = User(email=email, full_name="Bench Admin", role="admin")
            user.set_password(password, app.config["PASSWORD_HASH_METHOD"])
            db.session.add(user)
            db.session.commit()
    return email, password


def _cases(app) -> dict[str, dict]:
    """Query strings of the list: plain, each filter, each kind of search (real values)."""
    import sqlalchemy as sa

    from fixmyphone.extensions import db
    from fixmyphone.models import ServiceRequest, User

    with app.app_context():
        assigned = ServiceRequest.technician_id.is_not(None)
        total = db.session.scalar(sa.select(sa.func.count()).where(assigned))
        sample = db.session.execute(
            sa.select(ServiceRequest, User)
            .join(User, ServiceRequest.customer_id == User.id)
            .where(assigned)
            .order_by(ServiceRequest.id)
            .offset(min(4321, total // 2))  # a request from the middle of the history
            .limit(1)
        ).first()
        req, customer = sample
        newest = db.session.scalar(sa.select(sa.func.max(ServiceRequest.created_at)))
        day = (newest - timedelta(days=30)).date()
        until = (newest - timedelta(days=20)).date()
        name_fragment = customer.full_name.split()[-1]  # "Customer 12345" -> "12345"
        cases = {
            "plain first page": {},
            "page 40": {"page": "39"},
            "filter status": {"flt0_status_equals": "in_progress"},
            "filter technician": {"flt0_technician_equals": str(req.technician_id)},
            "filter date range": {"flt0_opened_from": str(day), "flt1_opened_to": str(until)},
            "filter brand": {"flt0_brand_contains": "samsung"},
            "filter status+brand": {
                "flt0_status_equals": "awaiting_parts",
                "flt1_brand_contains": "apple",
            },
            "search name fragment": {"search": name_fragment},
            "search email fragment": {"search": customer.email.split("@")[0][-9:] + "@ex"},
            "search reference": {"search": req.reference},
            "search reference fragment": {"search": req.reference[-4:].lower()},
            "search imei fragment": {"search": req.imei[5:12]},
            "search phone fragment": {"search": "555 12"},
            "search model fragment": {"search": "galaxy tab"},
            "search no match": {"search": "zzqxj"},
        }
    return cases


def _captured_sql(app, client, query: dict) -> list[tuple[str, dict]]:
    """The count and list statements the page sends (in order), with their parameters."""
    import sqlalchemy as sa

    from fixmyphone.extensions import db

    with app.app_context():
        engine = db.engine
    seen: list[tuple[str, dict]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if "FROM service_requests" in statement and "users.password_hash" not in statement[:30]:
            seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", capture)
    try:
        assert client.get(LIST, query_string=query).status_code == 200
    finally:
        sa.event.remove(engine, "before_cursor_execute", capture)
    return [(s, p) for s, p in seen if "count(" in s.lower() or "LIMIT" in s]


def _explain(app, client, label: str, query: dict) -> None:
    from fixmyphone.extensions import db

    with app.app_context():
        engine = db.engine
    for statement, parameters in _captured_sql(app, client, query):
        kind = "COUNT" if "count(" in statement.lower() else "LIST"
        print(f"\n--- EXPLAIN (ANALYZE, BUFFERS) {kind} — {label} {query}")
        with engine.connect() as conn:
            rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).all()
        for (line,) in rows:
            print("    " + line)


def main() -> None:
    parser = argparse.ArgumentParser()
    database_arguments(parser, requests=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--no-explain", action="store_true")
    args = parser.parse_args()
    with filled_database("admin_list", args, analyze=True) as (url, _env):
        app = bench_app(url, SECRET_KEY="bench", RATELIMIT_ENABLED=False)
        client = _login(app, *_admin(app))
        cases = _cases(app)
        print(f"machine: {machine()}; {args.requests} requests, admin request list, 25 rows a page")
        print(f"{'case':<28}{'query':<58}{'rows':>7}{'median':>9}{'p95':>9}  target")
        worst = 0.0
        for label, query in cases.items():
            page = client.get(LIST, query_string=query)
            assert page.status_code == 200, (label, page.status_code)
            html = page.get_data(as_text=True)
            rows = html.count('name="rowid"')
            figures = timed(lambda q=query: client.get(LIST, query_string=q), repeat=args.repeat)
            worst = max(worst, figures["p95_ms"])
            verdict = "ok" if figures["median_ms"] < TARGET_MS else "SLOW"
            shown = "&".join(f"{k}={v}" for k, v in query.items())[:56]
            print(
                f"{label:<28}{shown:<58}{rows:>7}{figures['median_ms']:>9.1f}"
                f"{figures['p95_ms']:>9.1f}  {verdict}"
            )
        print(f"worst p95: {worst:.0f} ms (target: median < {TARGET_MS} ms per page)")
        if not args.no_explain:
            _explain(app, client, "narrow search", cases["search name fragment"])
            _explain(app, client, "broad search", cases["search model fragment"])
            _explain(app, client, "broad search, short word", cases["search phone fragment"])
            _explain(app, client, "filter", cases["filter brand"])
            _explain(app, client, "filter", cases["filter status"])


if __name__ == "__main__":
    main()
