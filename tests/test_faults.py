"""Faults a real shop meets: Redis gone, the database restarted under the app."""

import time

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Notification, ServiceRequest

from .conftest import make_app


@pytest.fixture
def app_settings():
    # Redis configured but unreachable (stopped, network gone).
    return {"REDIS_URL": "redis://127.0.0.1:1/0", "JOBS_INLINE": False}


def _api_login(client, email, password):
    response = client.post("/api/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.json
    return {"Authorization": f"Bearer {response.json['access_token']}"}


def test_with_redis_down_pages_and_api_answer_and_notifications_wait(app, client, caplog):
    assert client.get("/").status_code == 200
    assert client.get("/account/login").status_code == 200
    response = client.post(
        "/api/user/create-customer",
        json={"email": "walkin@example.com", "password": "long-password-1", "full_name": "Wal Kin"},
    )
    assert response.status_code == 201, response.json
    headers = _api_login(client, "walkin@example.com", "long-password-1")
    response = client.post(
        "/api/service-request",
        json={
            "device_type": "phone",
            "brand": "Apple",
            "model": "iPhone 12",
            "issue_description": "Dead",
        },
        headers=headers,
    )
    assert response.status_code == 201, response.json
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceRequest)) == 1
    # The outbox kept the notice for the sweep to deliver once Redis is back.
    waiting = db.session.scalars(
        sa.select(Notification.status).where(Notification.channel == "email")
    ).all()
    assert waiting and set(waiting) == {"pending"}
    assert "left for the sweep" in caplog.text
    assert client.get("/readyz").status_code == 503


@pytest.mark.postgres
def test_the_app_recovers_when_the_database_drops_its_connections(require_postgres, tmp_path):
    app = make_app(require_postgres, tmp_path)
    client = app.test_client()
    assert client.get("/readyz").json["checks"]["database"] == "ok"
    with app.app_context():
        name = db.engine.url.database
    # What a PostgreSQL restart does to the app's pooled connections.
    admin = sa.create_engine(
        require_postgres.rsplit("/", 1)[0] + "/postgres", isolation_level="AUTOCOMMIT"
    )
    with admin.connect() as conn:
        killed = conn.execute(
            sa.text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = :name AND pid <> pg_backend_pid()"
            ),
            {"name": name},
        ).scalar()
        # pg_terminate_backend only signals; a restart is over once the old backends are gone.
        for _ in range(100):
            left = conn.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = :name AND pid <> pg_backend_pid()"
                ),
                {"name": name},
            ).scalar()
            if not left:
                break
            time.sleep(0.05)
    admin.dispose()
    assert killed >= 1
    # The pool's liveness check sees the server's goodbye on the idle socket and opens a new
    # connection: no error reaches users.
    assert client.get("/").status_code == 200
    assert client.get("/readyz").json["checks"]["database"] == "ok"
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
