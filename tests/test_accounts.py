"""Web accounts: registration, login, logout, password reset, deactivation, CSRF, rate limits."""

import re

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Notification, User
from fixmyphone.services import accounts, delivery

from .conftest import client_for, count_rows, csrf_token
from .factories import PASSWORD, CustomerFactory, UserFactory


def register(client, **overrides):
    data = {
        "full_name": "Nia Newcomer",
        "email": "Nia@Example.com",
        "phone": "+1 555 0123",
        "password": "a-long-password",
        "confirm": "a-long-password",
        "csrf_token": csrf_token(client, "/account/register"),
    }
    data.update(overrides)
    return client.post("/account/register", data=data)


def test_sign_up_creates_a_customer_and_logs_them_in(client):
    response = register(client)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account")
    user = db.session.scalars(sa.select(User)).one()
    assert (user.email, user.role, user.customer_profile.phone) == (
        "nia@example.com",
        "customer",
        "+1 555 0123",
    )
    assert user.password_hash.startswith("pbkdf2:") and "a-long-password" not in user.password_hash
    assert client.get("/account").status_code == 200


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("email", "not-an-email", "Invalid email address."),
        ("password", "short", "Use at least 8 characters."),
        ("password", "password", "too common"),
        ("phone", "call me maybe", "Enter a phone number"),
        ("full_name", "", "This field is required."),
    ],
)
def test_sign_up_shows_errors_next_to_fields_and_keeps_input(client, field, value, message):
    overrides = {field: value}
    if field == "password":
        overrides["confirm"] = value
    response = register(client, **overrides)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert message in html
    assert 'value="Nia Newcomer"' in html or field == "full_name"
    assert count_rows(User) == 0


def test_email_is_unique_case_insensitively(client):
    CustomerFactory(email="taken@example.com")
    db.session.commit()
    response = register(client, email="TAKEN@example.com")
    assert "already exists" in response.get_data(as_text=True)
    assert count_rows(User) == 1


def test_login_form_requires_csrf(client, customer):
    db.session.commit()
    response = client.post("/account/login", data={"email": customer.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/account").status_code == 302  # still anonymous


def test_login_and_logout(app, client, customer):
    db.session.commit()
    client_for(app, customer, client=client)
    assert client.get("/account").status_code == 200
    token = csrf_token(client, "/account")
    response = client.post("/account/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert client.get("/account").status_code == 302


def test_wrong_password_and_unknown_email_get_the_same_answer(client, customer):
    db.session.commit()
    answers = []
    for email, password in ((customer.email, "wrong-password"), ("nobody@example.com", PASSWORD)):
        token = csrf_token(client, "/account/login")
        response = client.post(
            "/account/login", data={"email": email, "password": password, "csrf_token": token}
        )
        answers.append(
            (response.status_code, "Wrong email or password" in response.get_data(as_text=True))
        )
    assert answers == [(200, True), (200, True)]


def test_staff_land_in_the_back_office(client, admin_user):
    db.session.commit()
    token = csrf_token(client, "/account/login")
    response = client.post(
        "/account/login",
        data={"email": admin_user.email, "password": PASSWORD, "csrf_token": token},
    )
    assert response.headers["Location"].endswith("/admin/")


def test_next_parameter_only_redirects_within_the_site(client, customer):
    db.session.commit()
    for target, expected in (
        ("/account?tab=1", "/account?tab=1"),
        ("https://evil.example/", "/account"),
        ("//evil.example", "/account"),
    ):
        c = client.application.test_client()
        token = csrf_token(c, "/account/login")
        response = c.post(
            f"/account/login?next={target}",
            data={"email": customer.email, "password": PASSWORD, "csrf_token": token},
        )
        assert response.headers["Location"] == expected


def test_deactivated_user_cannot_log_in_and_is_logged_out(app, client, customer, admin_user):
    db.session.commit()
    client_for(app, customer, client=client)
    accounts.deactivate(customer, admin_user)
    db.session.commit()
    assert client.get("/account").status_code == 302  # the live session ended
    token = csrf_token(client, "/account/login")
    response = client.post(
        "/account/login", data={"email": customer.email, "password": PASSWORD, "csrf_token": token}
    )
    assert "Wrong email or password, or the account is deactivated" in response.get_data(
        as_text=True
    )
    assert count_rows(AuditLog, AuditLog.action == "user_deactivated") == 1
    accounts.reactivate(customer, admin_user)
    db.session.commit()
    client_for(app, customer)


def _reset_link(user_email):
    row = db.session.scalars(
        sa.select(Notification).where(
            Notification.event == "password_reset", Notification.recipient == user_email
        )
    ).one()
    # The stored body holds a placeholder; the link is made when the email is rendered.
    assert "/account/reset/" not in row.body
    text = delivery.render_text(row)
    return re.search(r"http://shop\.test(/account/reset/\S+)", text).group(1)


def test_password_reset_by_single_use_link(app, client, customer):
    db.session.commit()
    token = csrf_token(client, "/account/forgot")
    response = client.post(
        "/account/forgot", data={"email": customer.email.upper(), "csrf_token": token}
    )
    assert response.status_code == 302
    path = _reset_link(customer.email)
    token = csrf_token(client, path)
    response = client.post(
        path, data={"password": "brand-new-pass", "confirm": "brand-new-pass", "csrf_token": token}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/login")
    client_for(app, customer, password="brand-new-pass")
    # The same link no longer works.
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/forgot")


def test_forgot_password_does_not_reveal_unknown_emails(client):
    token = csrf_token(client, "/account/forgot")
    response = client.post(
        "/account/forgot",
        data={"email": "ghost@example.com", "csrf_token": token},
        follow_redirects=True,
    )
    assert "If an account exists" in response.get_data(as_text=True)
    assert count_rows(Notification) == 0


def test_reset_link_expires(app, client, customer, monkeypatch):
    db.session.commit()
    token = accounts.make_reset_token(customer)
    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    assert accounts.user_for_reset_token(token) is None
    app.config["PASSWORD_RESET_MAX_AGE"] = 3600
    assert accounts.user_for_reset_token(token) == customer
    assert accounts.user_for_reset_token(token + "x") is None


def test_password_reset_email_is_in_the_outbox_and_logged(client, customer, caplog):
    db.session.commit()
    caplog.set_level("INFO")
    token = csrf_token(client, "/account/forgot")
    client.post("/account/forgot", data={"email": customer.email, "csrf_token": token})
    row = db.session.scalars(
        sa.select(Notification).where(Notification.event == "password_reset")
    ).one()
    assert row.channel == "email" and row.status == "sent"
    # The log says that it was not sent, to whom and what, never the body or its link.
    assert f"notification={row.id} to={customer.email}" in caplog.text
    assert "/account/reset/" not in caplog.text and "Hello" not in caplog.text


@pytest.fixture
def app_settings():
    # A moving window: a fixed one resets on the minute, so a slow run straddling it would
    # see a fresh allowance halfway through a test.
    return {"LOGIN_RATE_LIMIT": "3 per minute", "RATELIMIT_STRATEGY": "moving-window"}


def test_login_is_rate_limited(client, customer):
    db.session.commit()
    codes = []
    for _ in range(5):
        token = csrf_token(client, "/account/login")
        codes.append(
            client.post(
                "/account/login",
                data={"email": customer.email, "password": "nope-nope", "csrf_token": token},
            ).status_code
        )
    assert codes[:3] == [200, 200, 200]
    assert codes[3:] == [429, 429]


def _web_attempt(client, email, password="nope-nope", ip="127.0.0.1"):
    token = csrf_token(client, "/account/login")
    return client.post(
        "/account/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": ip},
    )


def test_successful_web_logins_do_not_count(app, customer):
    db.session.commit()
    for _ in range(5):
        browser = app.test_client()
        assert _web_attempt(browser, customer.email, PASSWORD).status_code == 302
    codes = [_web_attempt(app.test_client(), customer.email).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]


def test_web_owner_gets_in_after_ten_failures_from_ten_addresses(app, customer):
    db.session.commit()
    for i in range(10):
        assert _web_attempt(app.test_client(), customer.email, ip=f"10.0.0.{i}").status_code == 200
    response = _web_attempt(app.test_client(), customer.email, PASSWORD, ip="10.0.0.99")
    assert response.status_code == 302


def test_web_login_for_a_guessed_account_waits_a_bounded_delay(app, customer, monkeypatch):
    from fixmyphone.services import logins

    db.session.commit()
    moment = {"now": 1_900_000_000.0}
    monkeypatch.setattr(logins, "now", lambda: moment["now"])
    app.config.update(LOGIN_ACCOUNT_FREE_FAILURES=2, LOGIN_ACCOUNT_MAX_DELAY=30)
    for i in range(3):
        _web_attempt(app.test_client(), customer.email, ip=f"10.0.1.{i}")
    response = _web_attempt(app.test_client(), customer.email, PASSWORD, ip="10.0.1.50")
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "1"
    assert "Too many failed logins for this account" in response.get_data(as_text=True)
    assert 'name="email"' in response.get_data(as_text=True)  # the form is still there
    moment["now"] += 1
    assert (
        _web_attempt(app.test_client(), customer.email, PASSWORD, ip="10.0.1.50").status_code == 302
    )


def test_passwords_are_hashed_with_scrypt_outside_tests(app):
    user = UserFactory()
    user.set_password("whatever-123")
    assert user.password_hash.startswith("scrypt:")
    assert user.check_password("whatever-123") and not user.check_password("nope")


# ---------------------------------------------------------------- ending sessions on the server


def _login_remembered(app, user, password=PASSWORD):
    """A browser logged in with "Keep me logged in"; returns it and its two cookies."""
    browser, _ = client_for(app, user, password=password, remember=True)
    session_cookie = browser.get_cookie("session")
    remember_cookie = browser.get_cookie("remember_token")
    assert session_cookie is not None and remember_cookie is not None
    return browser, session_cookie.value, remember_cookie.value


def _replay(app, name, value):
    """A fresh browser that only has a copied cookie: what does /account answer it?"""
    thief = app.test_client()
    thief.set_cookie(name, value)
    return thief.get("/account")


def test_copied_cookies_work_while_the_login_lasts(app, customer):
    """The replay below is a real one: before logout each copied cookie is a login."""
    db.session.commit()
    _browser, session_value, remember_value = _login_remembered(app, customer)
    assert _replay(app, "session", session_value).status_code == 200
    assert _replay(app, "remember_token", remember_value).status_code == 200


def test_logout_ends_the_session_and_remember_cookie_on_the_server(app, customer):
    db.session.commit()
    browser, session_value, remember_value = _login_remembered(app, customer)
    version = customer.session_version
    response = browser.post("/account/logout", data={"csrf_token": csrf_token(browser, "/account")})
    assert response.status_code == 302
    for name, value in (("session", session_value), ("remember_token", remember_value)):
        replay = _replay(app, name, value)
        assert replay.status_code == 302, name
        assert "/account/login" in replay.headers["Location"]
    assert db.session.get(User, customer.id).session_version == version + 1
    # The owner logs in again as usual.
    client_for(app, customer)


def test_password_change_ends_every_other_login_web_and_api(app, customer):
    db.session.commit()
    _other, session_value, remember_value = _login_remembered(app, customer)
    api = app.test_client()
    pair = api.post(
        "/api/auth/login", json={"email": customer.email, "password": PASSWORD}
    ).get_json()
    browser, _ = client_for(app, customer)
    response = browser.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "another-long-pass",
            "confirm": "another-long-pass",
            "csrf_token": csrf_token(browser, "/account/profile"),
        },
    )
    assert response.status_code == 302
    assert browser.get("/account").status_code == 200  # this browser stays in
    assert _replay(app, "session", session_value).status_code == 302
    assert _replay(app, "remember_token", remember_value).status_code == 302
    bearer = {"Authorization": f"Bearer {pair['access_token']}"}
    assert api.get("/api/service-request", headers=bearer).status_code == 401
    refresh = api.post("/api/auth/refreshToken", json={"refresh_token": pair["refresh_token"]})
    assert refresh.status_code == 401


def test_password_reset_ends_every_login(app, client, customer):
    db.session.commit()
    _other, session_value, remember_value = _login_remembered(app, customer)
    path = f"/account/reset/{accounts.make_reset_token(customer)}"
    response = client.post(
        path,
        data={
            "password": "brand-new-pass",
            "confirm": "brand-new-pass",
            "csrf_token": csrf_token(client, path),
        },
    )
    assert response.status_code == 302
    assert _replay(app, "session", session_value).status_code == 302
    assert _replay(app, "remember_token", remember_value).status_code == 302


def test_role_change_ends_every_login_web_and_api(app, technician, superadmin):
    from fixmyphone.models import RefreshToken
    from fixmyphone.services import staff, tokens

    db.session.commit()
    _browser, session_value, remember_value = _login_remembered(app, technician)
    pair = tokens.start_session(technician)
    db.session.commit()
    staff.change_role(superadmin, technician, "admin")
    db.session.commit()
    assert _replay(app, "session", session_value).status_code == 302
    assert _replay(app, "remember_token", remember_value).status_code == 302
    api = app.test_client()
    bearer = {"Authorization": f"Bearer {pair.access_token}"}
    assert api.get("/api/service-request", headers=bearer).status_code == 401
    assert count_rows(RefreshToken, RefreshToken.revoked_at.is_(None)) == 0


def test_deactivation_ends_remembered_logins_too(app, customer, admin_user):
    db.session.commit()
    _browser, session_value, remember_value = _login_remembered(app, customer)
    accounts.deactivate(customer, admin_user)
    db.session.commit()
    assert _replay(app, "session", session_value).status_code == 302
    assert _replay(app, "remember_token", remember_value).status_code == 302
