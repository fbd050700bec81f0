"""Logging in with tokens: login, refresh (rotating), logout."""

from __future__ import annotations

from flask import current_app, request
from flask_limiter.util import get_remote_address

from ..extensions import db, limiter
from ..services import logins, tokens
from .base import Blueprint
from .schemas import LoginSchema, RefreshSchema, TokenPairSchema

blp = Blueprint("api-auth", __name__, url_prefix="/api/auth", description="Tokens.")

WRONG_CREDENTIALS = "Wrong email or password."


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _failed(response) -> bool:
    # Only failed attempts count towards the limit: a shop's staff share one IP.
    return response.status_code == 401


def pair_body(pair: tokens.TokenPair) -> dict:
    """The token pair as the contract shows it."""
    user = pair.user
    return {
        "access_token": pair.access_token,
        "refresh_token": pair.refresh_token,
        "token_type": pair.token_type,
        "expires_in": pair.expires_in,
        "user": {
            "id": user.id,
            "email": user.email,
            "full_name": user.full_name,
            "role": user.role,
        },
    }


@blp.route("/login", methods=["POST"])
@limiter.limit(_login_limit, key_func=get_remote_address, deduct_when=_failed)
@blp.arguments(LoginSchema)
@blp.response(200, TokenPairSchema)
@blp.errors(400, 401, 413, 429)
def login(args):
    """Log in with email and password; get an access token and a refresh token.

    Wrong email and wrong password answer the same 401; so does a deactivated account.
    Repeated failures from one client answer 429; repeated failures for one account make its
    next attempts wait a growing, bounded delay (429 with `Retry-After` meanwhile).
    """
    user = logins.log_in(args["email"], args["password"], request.remote_addr)
    if user is None:
        raise tokens.InvalidToken(WRONG_CREDENTIALS)
    pair = tokens.start_session(user)
    db.session.commit()
    return pair_body(pair)


@blp.route("/refreshToken", methods=["POST"])
@blp.arguments(RefreshSchema)
@blp.response(200, TokenPairSchema)
@blp.errors(400, 401, 413)
def refresh_token(args):
    """Trade a refresh token for a new pair; each refresh token works once.

    Presenting a used refresh token again revokes every token of that login (reuse detection).
    """
    try:
        pair = tokens.refresh(args["refresh_token"])
    except tokens.FamilyRevoked:
        db.session.commit()
        raise
    db.session.commit()
    return pair_body(pair)


@blp.route("/logout", methods=["POST"])
@blp.arguments(RefreshSchema)
@blp.response(204)
@blp.errors(400, 413)
def logout(args):
    """End a login: its refresh tokens and access tokens stop working (204 even if unknown)."""
    tokens.logout(args["refresh_token"])
    db.session.commit()
    return None
