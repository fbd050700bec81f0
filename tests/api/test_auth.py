"""Tokens: login, rotation, reuse detection, logout, expiry, revocation."""

from __future__ import annotations

from datetime import timedelta

import jwt
import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import RefreshToken, utcnow
from fixmyphone.services import accounts, tokens

from ..conftest import client_for
from ..factories import PASSWORD
from .conftest import assert_error


def login(client, email, password=PASSWORD):
    return client.post("/api/auth/login", json={"email": email, "password": password})


def me(client, access_token):
    return client.get("/api/service-request", headers={"Authorization": f"Bearer {access_token}"})


def test_login_answers_the_contract_shape(client, customer):
    response = login(client, customer.email.upper())
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 15 * 60
    assert body["user"] == {
        "id": customer.id,
        "email": customer.email,
        "full_name": customer.full_name,
        "role": "customer",
    }
    assert me(client, body["access_token"]).status_code == 200


def test_access_token_claims(app, client, customer):
    body = login(client, customer.email).get_json()
    claims = jwt.decode(body["access_token"], app.config["JWT_SECRET_KEY"], algorithms=["HS256"])
    assert claims["sub"] == str(customer.id)
    assert claims["role"] == "customer"
    assert claims["sv"] == customer.session_version
    assert claims["exp"] - claims["iat"] == app.config["JWT_ACCESS_TTL"]
    assert {"jti", "fam"} <= set(claims)


def test_refresh_tokens_are_stored_hashed(client, customer):
    body = login(client, customer.email).get_json()
    row = db.session.scalars(sa.select(RefreshToken)).one()
    assert row.token_hash == tokens.hash_token(body["refresh_token"])
    assert body["refresh_token"] not in row.token_hash
    assert row.user_id == customer.id and row.used_at is None and row.revoked_at is None


def test_wrong_email_and_wrong_password_answer_the_same(client, customer):
    wrong_password = assert_error(
        login(client, customer.email, "not-the-password"), 401, "unauthorized"
    )
    wrong_email = assert_error(login(client, "nobody@example.com"), 401, "unauthorized")
    assert wrong_password["message"] == wrong_email["message"]


def test_deactivated_account_cannot_log_in(client, customer):
    accounts.deactivate(customer, None)
    db.session.commit()
    assert_error(login(client, customer.email), 401, "unauthorized")


@pytest.mark.parametrize(
    "body",
    [{}, {"email": "a@example.com"}, {"password": "x"}, {"email": 5, "password": "x"}],
)
def test_login_validates_its_body(client, body):
    assert_error(client.post("/api/auth/login", json=body), 422, "validation_error")


def test_refresh_rotates_and_each_token_works_once(client, customer):
    first = login(client, customer.email).get_json()
    response = client.post("/api/auth/refreshToken", json={"refresh_token": first["refresh_token"]})
    assert response.status_code == 200
    second = response.get_json()
    assert set(second) == {"access_token", "refresh_token", "token_type", "expires_in", "user"}
    assert second["refresh_token"] != first["refresh_token"]
    assert me(client, second["access_token"]).status_code == 200
    rows = db.session.scalars(sa.select(RefreshToken).order_by(RefreshToken.id)).all()
    assert len(rows) == 2
    assert rows[0].used_at is not None
    assert rows[1].parent_id == rows[0].id and rows[1].family_id == rows[0].family_id


def test_reusing_a_refresh_token_revokes_the_whole_family(client, customer):
    first = login(client, customer.email).get_json()
    second = client.post(
        "/api/auth/refreshToken", json={"refresh_token": first["refresh_token"]}
    ).get_json()
    # Someone replays the first (already used) token: 401, and every descendant dies.
    replay = client.post("/api/auth/refreshToken", json={"refresh_token": first["refresh_token"]})
    assert_error(replay, 401, "unauthorized")
    assert replay.headers["WWW-Authenticate"] == "Bearer"
    assert_error(
        client.post("/api/auth/refreshToken", json={"refresh_token": second["refresh_token"]}),
        401,
        "unauthorized",
    )
    assert_error(me(client, second["access_token"]), 401, "unauthorized")
    assert_error(me(client, first["access_token"]), 401, "unauthorized")
    rows = db.session.scalars(sa.select(RefreshToken)).all()
    assert rows and all(row.revoked_at is not None for row in rows)


def test_reuse_in_one_family_leaves_other_logins_alone(client, customer):
    phone = login(client, customer.email).get_json()
    tablet = login(client, customer.email).get_json()
    client.post("/api/auth/refreshToken", json={"refresh_token": phone["refresh_token"]})
    client.post("/api/auth/refreshToken", json={"refresh_token": phone["refresh_token"]})
    assert me(client, tablet["access_token"]).status_code == 200
    again = client.post("/api/auth/refreshToken", json={"refresh_token": tablet["refresh_token"]})
    assert again.status_code == 200


@pytest.mark.parametrize(
    ("token", "status", "code"),
    [
        ("", 422, "validation_error"),
        ("not-a-token", 401, "unauthorized"),
        ("x" * 43, 401, "unauthorized"),
    ],
)
def test_unknown_refresh_token_is_refused(client, token, status, code):
    assert_error(client.post("/api/auth/refreshToken", json={"refresh_token": token}), status, code)


def test_logout_revokes_the_family(client, customer):
    pair = login(client, customer.email).get_json()
    response = client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 204
    assert_error(me(client, pair["access_token"]), 401, "unauthorized")
    assert_error(
        client.post("/api/auth/refreshToken", json={"refresh_token": pair["refresh_token"]}),
        401,
        "unauthorized",
    )


def test_logout_with_an_unknown_token_is_still_204(client):
    assert client.post("/api/auth/logout", json={"refresh_token": "nope"}).status_code == 204


def test_deactivation_kills_access_and_refresh_tokens(client, customer):
    pair = login(client, customer.email).get_json()
    accounts.deactivate(customer, None)
    db.session.commit()
    assert_error(me(client, pair["access_token"]), 401, "unauthorized")
    assert_error(
        client.post("/api/auth/refreshToken", json={"refresh_token": pair["refresh_token"]}),
        401,
        "unauthorized",
    )


def test_password_change_kills_existing_tokens(app, client, customer):
    pair = login(client, customer.email).get_json()
    accounts.set_password(customer, "a-brand-new-password")
    db.session.commit()
    assert_error(me(client, pair["access_token"]), 401, "unauthorized")
    assert_error(
        client.post("/api/auth/refreshToken", json={"refresh_token": pair["refresh_token"]}),
        401,
        "unauthorized",
    )
    fresh = login(client, customer.email, "a-brand-new-password").get_json()
    assert me(client, fresh["access_token"]).status_code == 200


def test_access_token_expires_on_the_token_clock(monkeypatch, client, customer):
    pair = login(client, customer.email).get_json()
    start = utcnow()
    monkeypatch.setattr(tokens, "now", lambda: start + timedelta(minutes=14, seconds=50))
    assert me(client, pair["access_token"]).status_code == 200
    monkeypatch.setattr(tokens, "now", lambda: start + timedelta(minutes=15, seconds=1))
    error = assert_error(me(client, pair["access_token"]), 401, "unauthorized")
    assert "expired" in error["message"]
    # The refresh token still works and gives a working access token.
    response = client.post("/api/auth/refreshToken", json={"refresh_token": pair["refresh_token"]})
    assert response.status_code == 200
    assert me(client, response.get_json()["access_token"]).status_code == 200


def test_refresh_token_expires_after_its_ttl(monkeypatch, app, client, customer):
    pair = login(client, customer.email).get_json()
    start = utcnow()
    ttl = app.config["JWT_REFRESH_TTL"]
    monkeypatch.setattr(tokens, "now", lambda: start + timedelta(seconds=ttl + 5))
    assert_error(
        client.post("/api/auth/refreshToken", json={"refresh_token": pair["refresh_token"]}),
        401,
        "unauthorized",
    )


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not.a.jwt",
    ],
)
def test_missing_or_malformed_token_is_401(client, header):
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/service-request", headers=headers)
    assert_error(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_forged_tokens_are_refused(app, client, customer):
    good = jwt.decode(
        login(client, customer.email).get_json()["access_token"],
        app.config["JWT_SECRET_KEY"],
        algorithms=["HS256"],
    )
    other_key = jwt.encode(good, "some-other-key-that-is-long-enough-1234", algorithm="HS256")
    unsigned = jwt.encode(good, None, algorithm="none")
    as_admin = jwt.encode({**good, "role": "admin"}, "guess" * 8, algorithm="HS256")
    for token in (other_key, unsigned, as_admin):
        assert_error(me(client, token), 401, "unauthorized")


def test_token_for_a_missing_claim_is_refused(app, client, customer):
    claims = {"sub": str(customer.id), "iat": 1, "exp": 2**40, "jti": "x", "role": "customer"}
    token = jwt.encode(claims, app.config["JWT_SECRET_KEY"], algorithm="HS256")
    assert_error(me(client, token), 401, "unauthorized")


def test_an_unknown_email_costs_the_same_hash_as_a_wrong_password(monkeypatch, client, customer):
    """Response time must not tell which emails have accounts."""
    hashed = []
    real = accounts.check_password_hash

    def counting(pwhash, password):
        hashed.append(pwhash.split("$")[0])
        return real(pwhash, password)

    monkeypatch.setattr(accounts, "check_password_hash", counting)
    assert_error(login(client, "nobody@example.com"), 401, "unauthorized")
    assert len(hashed) == 1
    assert hashed[0].startswith(client.application.config["PASSWORD_HASH_METHOD"])


def test_logging_out_of_the_site_ends_access_tokens_until_refreshed(app, client, customer):
    """Web logout ends the account's browser sessions everywhere: an access token carries the
    same session version, so it stops working; the app's own login (its refresh token) lives
    on and gets a working access token."""
    from ..conftest import csrf_token

    pair = login(client, customer.email).get_json()
    browser, _ = client_for(app, customer)
    browser.post("/account/logout", data={"csrf_token": csrf_token(browser, "/account")})
    assert_error(me(client, pair["access_token"]), 401, "unauthorized")
    fresh = client.post("/api/auth/refreshToken", json={"refresh_token": pair["refresh_token"]})
    assert fresh.status_code == 200
    assert me(client, fresh.get_json()["access_token"]).status_code == 200


def test_api_logout_leaves_the_browser_logged_in(app, client, customer):

    browser, _ = client_for(app, customer)
    pair = login(client, customer.email).get_json()
    assert (
        client.post("/api/auth/logout", json={"refresh_token": pair["refresh_token"]}).status_code
        == 204
    )
    assert browser.get("/account").status_code == 200
