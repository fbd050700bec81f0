"""CORS: an allow-list from CORS_ORIGINS; matching origins are echoed, others get nothing."""

from __future__ import annotations

import pytest


@pytest.fixture
def app_settings():
    return {
        "JWT_SECRET_KEY": "api-tests-" + "k" * 40,
        "CORS_ORIGINS": ["https://app.example", "https://partner.example"],
    }


def test_allowed_origin_is_echoed(client):
    response = client.get(
        "/api/appointment/slots?date=2030-01-01", headers={"Origin": "https://partner.example"}
    )
    assert response.headers["Access-Control-Allow-Origin"] == "https://partner.example"
    assert "Origin" in response.headers["Vary"]


def test_other_origins_get_nothing(client):
    response = client.get(
        "/api/appointment/slots?date=2030-01-01", headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


def test_preflight_is_answered_for_allowed_origins(client):
    response = client.options(
        "/api/service-request",
        headers={
            "Origin": "https://app.example",
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "Authorization, Content-Type",
        },
    )
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in response.headers["Access-Control-Allow-Headers"]
    denied = client.options(
        "/api/service-request",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in denied.headers


def test_cors_headers_are_on_errors_too(client):
    response = client.get("/api/nope", headers={"Origin": "https://app.example"})
    assert response.status_code == 404
    assert response.headers["Access-Control-Allow-Origin"] == "https://app.example"


def test_cors_does_not_touch_pages(client):
    response = client.get("/", headers={"Origin": "https://app.example"})
    assert "Access-Control-Allow-Origin" not in response.headers
