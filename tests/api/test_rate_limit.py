"""Repeated failed logins from one client or for one account answer 429 with Retry-After."""

from __future__ import annotations

import pytest

from ..factories import PASSWORD
from .conftest import assert_error


@pytest.fixture
def app_settings():
    return {"JWT_SECRET_KEY": "api-tests-" + "k" * 40, "LOGIN_RATE_LIMIT": "3 per minute"}


def attempt(client, email, password="wrong-password", ip="10.0.0.1"):
    return client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_failures_from_one_client_are_limited(client, customer):
    codes = [attempt(client, f"guess{i}@example.com").status_code for i in range(3)]
    assert codes == [401, 401, 401]
    response = attempt(client, customer.email, PASSWORD)  # even the right password now waits
    error = assert_error(response, 429, "rate_limited")
    assert int(response.headers["Retry-After"]) > 0
    assert error["message"]
    # Another client is not affected.
    assert attempt(client, customer.email, PASSWORD, ip="10.0.0.2").status_code == 200


def test_failures_for_one_account_are_limited_across_clients(client, customer):
    for i in range(3):
        assert attempt(client, customer.email, ip=f"10.0.1.{i}").status_code == 401
    response = attempt(client, customer.email.upper(), PASSWORD, ip="10.0.1.99")
    assert_error(response, 429, "rate_limited")
    assert response.headers["Retry-After"]


def test_successful_logins_do_not_count(client, customer):
    for _ in range(6):
        assert attempt(client, customer.email, PASSWORD).status_code == 200


def test_only_the_429_tells_a_client_to_wait(client, customer):
    # A client honouring Retry-After must not wait after a success or an ordinary failure.
    assert "Retry-After" not in attempt(client, customer.email, PASSWORD).headers
    assert "Retry-After" not in attempt(client, "nobody@example.com").headers
    signup = client.post(
        "/api/user/create-customer",
        json={"email": "new@example.com", "password": "a-long-password", "full_name": "New"},
    )
    assert signup.status_code == 201
    assert "Retry-After" not in signup.headers
    assert not [h for h in signup.headers.keys() if h.lower().startswith("x-ratelimit")]
