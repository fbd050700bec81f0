"""How the app uses its database connections: liveness checks without a round trip per
request, PostgreSQL session settings given at connect time, and reads that run outside a
transaction.

Both exist for the same reason: on a busy API most of a request's time is round trips to the
database, and two of the usual ones carry no data. A pooled connection used to be pinged
(``SELECT 1``) every time it was taken from the pool, and every read was wrapped in
``BEGIN`` ... ``ROLLBACK``.
"""

from __future__ import annotations

import select
import time
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from flask import Flask, g, request
from sqlalchemy import event

from .extensions import db

# A connection idle for longer than this is pinged before use (a firewall or a NAT may have
# dropped it silently; nothing on the socket would tell).
PING_AFTER_IDLE_SECONDS = 30.0


def _socket_of(dbapi_connection) -> int | None:
    pgconn = getattr(dbapi_connection, "pgconn", None)  # psycopg 3
    if pgconn is None:
        return None  # SQLite: no server to lose
    return pgconn.socket


def _has_unread_input(fd: int) -> bool:
    """True when the server sent something while the connection sat in the pool: on an idle
    PostgreSQL connection that is the notice of a terminated backend (restart, failover,
    pg_terminate_backend) followed by the end of the stream."""
    readable, _, _ = select.select([fd], [], [], 0)
    return bool(readable)


def install_liveness_checks(engine: sa.Engine) -> None:
    """Check a connection when it leaves the pool, cheaply.

    A connection is pinged only when the server has written to it while it was idle (almost
    always: the server dropped it) or when it sat idle for more than PING_AFTER_IDLE_SECONDS.
    A dead one raises DisconnectionError, on which the pool replaces it and the request goes on
    without an error. This stands in for ``pool_pre_ping``, which paid a round trip on every
    request.
    """

    @event.listens_for(engine, "checkin")
    def _remember_idle_since(_dbapi_connection, record):
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _check_alive(dbapi_connection, record, _proxy):
        fd = _socket_of(dbapi_connection)
        if fd is None:
            return
        idle = time.monotonic() - record.info.get("idle_since", time.monotonic())
        try:
            suspicious = fd < 0 or _has_unread_input(fd)
        except (OSError, ValueError):
            suspicious = True
        if not suspicious and idle <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception:  # noqa: BLE001 - any failure to ping means the connection is gone
            alive = False
        if not alive:
            raise sa.exc.DisconnectionError("The pooled connection was closed by the server.")


# Every PostgreSQL session the app opens runs with these settings (given at connect time, so
# they cost no round trip). JIT compilation pays off for long analytical queries, not for a web
# app's: the dashboard's lists statement on 100k repairs spent 147 ms compiling (EXPLAIN
# ANALYZE: "JIT ... Total 147 ms"), because misestimated aggregates crossed jit_above_cost;
# run directly it took 324-341 ms with JIT and 247-251 ms without.
SESSION_SETTINGS = {"jit": "off"}


def install_session_settings(engine: sa.Engine) -> None:
    """Open PostgreSQL connections with SESSION_SETTINGS (``options=-c name=value``, added to
    any options the database URL already gives)."""
    if engine.dialect.name != "postgresql":
        return

    @event.listens_for(engine, "do_connect")
    def _with_settings(_dialect, _record, _cargs, cparams):
        settings = " ".join(f"-c {name}={value}" for name, value in SESSION_SETTINGS.items())
        cparams["options"] = f"{cparams.get('options', '')} {settings}".strip()


def outside_transaction() -> None:
    """Run the session's next statements outside a transaction (autocommit): no BEGIN, no
    COMMIT or ROLLBACK round trips, and each write is durable as soon as it returns.

    Call it before the session has used a connection; it holds until the session is closed
    (the connection then goes back to the pool in its normal mode).
    """
    db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def reads_outside_transaction(view):
    """Mark a page whose GET reads (and at most writes single statements, such as marking the
    messages it shows as read): the request runs outside a transaction (``install_read_pages``).

    Besides the BEGIN and ROLLBACK round trips, that keeps psycopg's prepared statements: it
    drops them all on every ROLLBACK, and a request that only read ends with one, so no
    statement was ever executed prepared. Prepared, the pages' large reads are planned once per
    connection instead of on every view (the back-office repair page's main read: 11 ms, 5-9
    of them planning, against 1.9 ms prepared with PostgreSQL's generic plan).
    """
    view.reads_outside_transaction = True
    return view


def install_read_pages(app: Flask) -> None:
    """Run GETs of the pages marked ``reads_outside_transaction`` outside a transaction.

    Only a fresh session is switched (the first thing the request does with the database), and
    it is closed when the request ends, so whatever runs after the request (a test sharing its
    app context, say) is back in transactions.
    """

    @app.before_request
    def _outside_transaction_for_reads() -> None:
        if request.method not in ("GET", "HEAD"):
            return
        view = app.view_functions.get(request.endpoint or "")
        session = db.session()
        fresh = not session.in_transaction() and not session.identity_map
        if getattr(view, "reads_outside_transaction", False) and fresh:
            outside_transaction()
            g.read_outside_transaction = True

    @app.teardown_request
    def _back_in_transactions(_exc: BaseException | None) -> None:
        if g.pop("read_outside_transaction", False):
            db.session.close()


@contextmanager
def read_connection() -> Iterator[sa.Connection]:
    """A pooled connection of its own, outside any transaction and outside the ORM session, for
    a view whose whole database work is a read or two in Core: no BEGIN or ROLLBACK round
    trips, and none of the session's bookkeeping (the hottest API call is such a view).

    Each statement sees the data as of its own start, which is all a single read needs.
    """
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        yield connection
