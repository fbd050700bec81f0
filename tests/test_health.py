"""Liveness and readiness probes."""

from flask_migrate import stamp


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_readyz_reports_migrations_not_at_head(client):
    # The test schema is made with create_all, so no revision is stamped.
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["database"] == "ok"
    assert response.json["checks"]["migrations"] == "not at head"


def test_readyz_ok_when_stamped_at_head(app, client):
    stamp()
    try:
        response = client.get("/readyz")
        assert response.status_code == 200, response.json
        assert response.json["checks"]["redis"] in ("ok", "not configured")
    finally:
        stamp(revision="base")


def test_readyz_reports_an_unreachable_redis(app, client):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("fixmyphone_redis", None)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"].startswith("error")
