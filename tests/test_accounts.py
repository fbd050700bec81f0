"""Web accounts: registration, login, logout, password reset, deactivation, CSRF, rate limits."""

import re

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Notification, User
from fixmyphone.services import accounts

from .conftest import csrf_token, login
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
    user = db.session.query(User).one()
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
    assert db.session.query(User).count() == 0


def test_email_is_unique_case_insensitively(client):
    CustomerFactory(email="taken@example.com")
    db.session.commit()
    response = register(client, email="TAKEN@example.com")
    assert "already exists" in response.get_data(as_text=True)
    assert db.session.query(User).count() == 1


def test_login_form_requires_csrf(client, customer):
    db.session.commit()
    response = client.post("/account/login", data={"email": customer.email, "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/account").status_code == 302  # still anonymous


def test_login_and_logout(client, customer):
    db.session.commit()
    login(client, customer)
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
    login(client, customer)
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
    assert db.session.query(AuditLog).filter_by(action="user_deactivated").count() == 1
    accounts.reactivate(customer, admin_user)
    db.session.commit()
    login(client.application.test_client(), customer)


def _reset_link(user_email):
    row = (
        db.session.query(Notification).filter_by(event="password_reset", recipient=user_email).one()
    )
    return re.search(r"http://shop\.test(/account/reset/\S+)", row.body).group(1)


def test_password_reset_by_single_use_link(client, customer):
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
    login(client.application.test_client(), customer, password="brand-new-pass")
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
    assert db.session.query(Notification).count() == 0


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
    row = db.session.query(Notification).filter_by(event="password_reset").one()
    assert row.channel == "email" and row.status == "sent"
    assert "/account/reset/" in caplog.text


@pytest.fixture
def app_settings():
    return {"LOGIN_RATE_LIMIT": "3 per minute"}


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


def test_passwords_are_hashed_with_scrypt_outside_tests(app):
    user = UserFactory()
    user.set_password("whatever-123")
    assert user.password_hash.startswith("scrypt:")
    assert user.check_password("whatever-123") and not user.check_password("nope")
