"""Reaching the real PostgreSQL and Redis: skip on a laptop without them, fail under CI=true."""

from __future__ import annotations

import os
import uuid

import pytest
import sqlalchemy as sa

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
REDIS_TEST_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/14")


def _unavailable(what: str, exc: Exception):
    reason = f"{what} is not reachable ({type(exc).__name__}: {exc})"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; under CI=true this test must run, not skip")
    pytest.skip(reason)


@pytest.fixture
def require_postgres():
    """A fresh, empty PostgreSQL database URL for this test; dropped afterwards."""
    try:
        admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001
        _unavailable("PostgreSQL", exc)
    name = f"fmp_test_{uuid.uuid4().hex[:10]}"
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def require_redis():
    """A Redis URL on a test database number, emptied before and after the test."""
    from redis import Redis

    try:
        conn = Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=2)
        conn.ping()
    except Exception as exc:  # noqa: BLE001
        _unavailable("Redis", exc)
    conn.flushdb()
    yield REDIS_TEST_URL
    conn.flushdb()
