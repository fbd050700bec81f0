"""Shared fixtures: an app on a clean database per test, clients logged in per role.

The database is SQLite by default; set DATABASE_URL (PostgreSQL) and REDIS_URL to run the same
suite on the real servers, as .ci/run does in its second pass.
"""

from __future__ import annotations

import os
import re

import pytest
import sqlalchemy as sa
from flask.globals import _cv_app
from flask.testing import FlaskClient

from fixmyphone import create_app
from fixmyphone.config import TestConfig, normalise_database_url
from fixmyphone.extensions import db

from . import factories
from .services import require_postgres, require_redis  # noqa: F401  (re-exported fixtures)

_SCHEMAS_MADE: set[str] = set()


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
        outer = _cv_app.get(None)
        if outer is not None:
            db.session.commit()
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)
            if outer is not None:
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


CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|name="csrf_token" value="([^"]+)"'
)


def csrf_token(client, path: str) -> str:
    """The CSRF token a page renders (forms keep CSRF on in tests)."""
    html = client.get(path).get_data(as_text=True)
    match = CSRF_RE.search(html)
    assert match, f"no csrf_token on {path}"
    return match.group(1) or match.group(2)


def login(client, user, password: str = factories.PASSWORD):
    """Log a user in through the real login form."""
    token = csrf_token(client, "/account/login")
    response = client.post(
        "/account/login",
        data={"email": user.email, "password": password, "csrf_token": token},
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:500]
    return client


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


def _logged_in(app, user):
    db.session.commit()
    client = app.test_client()
    return login(client, user)


@pytest.fixture
def customer_client(app, customer):
    return _logged_in(app, customer)


@pytest.fixture
def technician_client(app, technician):
    return _logged_in(app, technician)


@pytest.fixture
def admin_client(app, admin_user):
    return _logged_in(app, admin_user)


@pytest.fixture
def superadmin_client(app, superadmin):
    return _logged_in(app, superadmin)
