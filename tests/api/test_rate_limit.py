"""Login limits stop attackers, not owners.

Per client address: failed logins only (``LOGIN_RATE_LIMIT``), the address as the configured
proxy count sees it. Per account: a growing, bounded delay after repeated failures, cleared by
the right password, skipped from an address the account logged in from before.
"""

from __future__ import annotations

import pytest

from fixmyphone.services import logins

from ..conftest import make_app
from ..factories import PASSWORD
from .conftest import assert_error


@pytest.fixture
def app_settings():
    return {"JWT_SECRET_KEY": "api-tests-" + "k" * 40, "LOGIN_RATE_LIMIT": "3 per minute"}


@pytest.fixture
def clock(monkeypatch):
    """The per-account throttle's clock, moved by hand."""
    moment = {"now": 1_900_000_000.0}
    monkeypatch.setattr(logins, "now", lambda: moment["now"])

    def advance(seconds: float) -> None:
        moment["now"] += seconds

    return advance


def attempt(client, email, password="wrong-password", ip="10.0.0.1", **headers):
    return client.post(
        "/api/auth/login",
        json={"email": email, "password": password},
        environ_base={"REMOTE_ADDR": ip},
        headers=headers,
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


def test_the_owner_gets_in_after_ten_failures_from_ten_addresses(client, customer):
    for i in range(10):
        assert attempt(client, customer.email, ip=f"10.0.1.{i}").status_code == 401
    response = attempt(client, customer.email.upper(), PASSWORD, ip="10.0.1.99")
    assert response.status_code == 200, response.get_json()


def test_more_failures_for_one_account_mean_a_growing_bounded_wait(app, client, customer, clock):
    app.config.update(LOGIN_ACCOUNT_FREE_FAILURES=3, LOGIN_ACCOUNT_MAX_DELAY=8)
    for i in range(3):
        assert attempt(client, customer.email, ip=f"10.0.2.{i}").status_code == 401
    waits = []
    for i in range(6):
        assert attempt(client, customer.email, ip=f"10.0.3.{i}").status_code == 401
        # Inside the wait every attempt is refused before the password is checked, even the
        # right one, from any new address; the wait doubles and stops growing at the maximum.
        refused = attempt(client, customer.email, PASSWORD, ip=f"10.0.4.{i}")
        assert_error(refused, 429, "rate_limited")
        waits.append(int(refused.headers["Retry-After"]))
        clock(waits[-1])
    assert waits == [1, 2, 4, 8, 8, 8]
    # Once the wait is over, the owner with the right password is in, and that clears the count.
    assert attempt(client, customer.email, PASSWORD, ip="10.0.5.1").status_code == 200
    for i in range(3):
        assert attempt(client, customer.email, ip=f"10.0.6.{i}").status_code == 401


def test_failures_are_forgotten_after_the_window(app, client, customer, clock):
    app.config.update(LOGIN_ACCOUNT_FREE_FAILURES=2, LOGIN_ACCOUNT_WINDOW=600)
    for i in range(3):
        attempt(client, customer.email, ip=f"10.0.7.{i}")
    assert attempt(client, customer.email, PASSWORD, ip="10.0.7.9").status_code == 429
    clock(601)
    for i in range(2):  # the free failures are back
        assert attempt(client, customer.email, ip=f"10.0.8.{i}").status_code == 401
    assert attempt(client, customer.email, PASSWORD, ip="10.0.8.9").status_code == 200


def test_an_address_the_owner_used_before_skips_the_account_wait(app, client, customer, clock):
    app.config.update(LOGIN_ACCOUNT_FREE_FAILURES=2)
    assert attempt(client, customer.email, PASSWORD, ip="192.0.2.10").status_code == 200
    for i in range(4):
        attempt(client, customer.email, ip=f"10.0.9.{i}")
    assert attempt(client, customer.email, PASSWORD, ip="10.0.9.50").status_code == 429
    assert attempt(client, customer.email, PASSWORD, ip="192.0.2.10").status_code == 200


def test_unknown_emails_wait_the_same_as_real_ones(app, client, customer, clock):
    """The per-account answers do not tell which emails have an account."""
    app.config.update(LOGIN_ACCOUNT_FREE_FAILURES=2)
    answers = {}
    for email in (customer.email, "nobody@example.com"):
        codes = [
            attempt(client, email, ip=f"10.1.{len(answers)}.{i}").status_code for i in range(4)
        ]
        answers[email] = codes
    assert answers[customer.email] == answers["nobody@example.com"] == [401, 401, 401, 429]


def test_successful_logins_do_not_count(client, customer):
    for _ in range(6):
        assert attempt(client, customer.email, PASSWORD).status_code == 200
    # The same client still has its whole budget of failures.
    assert [attempt(client, customer.email).status_code for _ in range(4)] == [401, 401, 401, 429]


def test_with_no_proxy_configured_x_forwarded_for_is_ignored(client, customer):
    codes = [
        attempt(client, customer.email, **{"X-Forwarded-For": f"203.0.113.{i}"}).status_code
        for i in range(5)
    ]
    assert codes == [401, 401, 401, 429, 429]


def test_behind_one_proxy_the_client_is_the_address_the_proxy_saw(database_url, tmp_path, customer):
    from fixmyphone.extensions import db

    db.session.commit()
    app = make_app(database_url, tmp_path, LOGIN_RATE_LIMIT="3 per minute", PROXY_COUNT=1)
    proxied = app.test_client()

    def via_proxy(client_ip, spoofed=None):
        # nginx appends the address it saw to whatever the client sent.
        chain = f"{spoofed}, {client_ip}" if spoofed else client_ip
        return attempt(proxied, customer.email, ip="127.0.0.1", **{"X-Forwarded-For": chain})

    assert [via_proxy("198.51.100.7", f"10.9.0.{i}").status_code for i in range(4)] == [
        401,
        401,
        401,
        429,
    ]
    # Another client behind the same proxy is not affected.
    assert via_proxy("198.51.100.8").status_code == 401


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


def test_logins_go_on_when_the_throttles_redis_is_down(database_url, tmp_path, customer, caplog):
    """Without Redis the per-account delay is skipped (and logged), not every login refused."""
    from fixmyphone.extensions import db

    db.session.commit()
    app = make_app(database_url, tmp_path, REDIS_URL="redis://127.0.0.1:9/0")  # nothing listens
    down = app.test_client()
    assert attempt(down, customer.email).status_code == 401
    assert attempt(down, customer.email, PASSWORD).status_code == 200
    assert "login throttle unavailable" in caplog.text
