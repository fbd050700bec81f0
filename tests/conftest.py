"""Shared fixtures: an app on a clean database per test, clients logged in per role.

The database is SQLite by default; set DATABASE_URL (PostgreSQL) and REDIS_URL to run the same
suite on the real servers, as .ci/run does in its second pass.
"""

from __future__ import annotations

import os
import re
from contextvars import ContextVar

import pytest
import sqlalchemy as sa
from flask import has_app_context
from flask.testing import FlaskClient

from fixmyphone import create_app
from fixmyphone.config import TestConfig, normalise_database_url
from fixmyphone.extensions import db

from . import factories
from .services import require_postgres, require_redis  # noqa: F401  (re-exported fixtures)

_SCHEMAS_MADE: set[str] = set()
_SERVING: ContextVar[bool] = ContextVar("serving", default=False)  # inside a ShopClient request


@pytest.fixture(scope="session")
def database_url(tmp_path_factory) -> str:
    url = os.environ.get("DATABASE_URL")
    if url:
        return normalise_database_url(url)
    return f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"


class ShopClient(FlaskClient):
    """A test client whose requests run like production: each in its own app context and
    database session. The test's own session is committed before each request (so the request
    sees what the test set up) and expired after it (so the test sees what the request did)."""

    def open(self, *args, **kwargs):
        from_test = has_app_context() and not _SERVING.get()  # not a redirect being followed
        if from_test:
            db.session.commit()
        serving = _SERVING.set(True)
        try:
            # The request finds this fresh app context and uses it instead of the test's.
            with self.application.app_context():
                return super().open(*args, **kwargs)
        finally:
            _SERVING.reset(serving)
            if from_test:
                db.session.expire_all()


def make_app(database_url: str, tmp_path, **overrides):
    """An app on ``database_url`` with a schema made once per database."""
    settings = {
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": os.environ.get("REDIS_URL") or None,
        "JOBS_INLINE": True,
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "PUBLIC_BASE_URL": "http://shop.test",
    }
    settings.update(overrides)
    app = create_app(TestConfig, **settings)
    app.test_client_class = ShopClient
    with app.app_context():
        if database_url not in _SCHEMAS_MADE:
            db.session.remove()
            db.drop_all()
            db.create_all()
            _SCHEMAS_MADE.add(database_url)
    return app


def clean_database(app) -> None:
    """Empty every table (much faster than dropping and creating the schema)."""
    with app.app_context():
        db.session.remove()
        tables = list(reversed(db.metadata.sorted_tables))
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                names = ", ".join(f'"{t.name}"' for t in tables)
                conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(table.delete())
        if os.environ.get("REDIS_URL"):
            from redis import Redis

            Redis.from_url(os.environ["REDIS_URL"]).flushdb()
        db.engine.dispose()


@pytest.fixture
def app_settings() -> dict:
    """Override in a test module to change the app's config for its tests."""
    return {}


@pytest.fixture
def app(database_url, tmp_path, app_settings):
    app = make_app(database_url, tmp_path, **app_settings)
    with app.app_context():
        yield app
        db.session.remove()
    clean_database(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def count_rows(model, *where) -> int:
    """How many rows of ``model`` the database holds (matching ``where``, if given)."""
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token(client, path: str) -> str:
    """The CSRF token a page renders (forms keep CSRF on in tests)."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no csrf_token on {path}"
    return match.group(1) or match.group(2)


def client_for(app, who, *, client=None, password=factories.PASSWORD, remember=False):
    """The one way a test logs in: through the real login form, as ``who``.

    ``who`` is a user, or a role for a new user of that role ("anonymous": nobody logs in).
    Returns ``(client, user)``: a fresh test client (or ``client``, if given) and the user.
    """
    client = app.test_client() if client is None else client
    user = _new_user(who) if isinstance(who, str) else who
    if user is None:
        return client, None
    form = {"email": user.email, "password": password}
    if remember:
        form["remember"] = "y"
    if app.config.get("WTF_CSRF_ENABLED", True):
        form["csrf_token"] = csrf_token(client, "/account/login")
    response = client.post("/account/login", data=form)
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client, user


def _new_user(role: str):
    if role == "anonymous":
        return None
    if role == "customer":
        return factories.CustomerFactory()
    if role == "technician":
        return factories.TechnicianFactory()
    return factories.UserFactory(role=role)


@pytest.fixture
def customer(app):
    return factories.CustomerFactory()


@pytest.fixture
def technician(app):
    return factories.TechnicianFactory()


@pytest.fixture
def admin_user(app):
    return factories.UserFactory(role="admin")


@pytest.fixture
def superadmin(app):
    return factories.UserFactory(role="superadmin")


@pytest.fixture
def customer_client(app, customer):
    client, _ = client_for(app, customer)
    return client


@pytest.fixture
def technician_client(app, technician):
    client, _ = client_for(app, technician)
    return client


@pytest.fixture
def admin_client(app, admin_user):
    client, _ = client_for(app, admin_user)
    return client


@pytest.fixture
def superadmin_client(app, superadmin):
    client, _ = client_for(app, superadmin)
    return client
