"""API tokens: short-lived JWT access tokens and rotating refresh tokens stored hashed.

Every login starts a *family* of refresh tokens. Each refresh token can be used once: using it
marks it used and issues its child in the same family. Presenting a used token again means
it leaked (or the app replayed it), so the whole family is revoked. Access tokens carry the
family id and the user's ``session_version``, so logging out, reuse detection, deactivation
and a password change all end them before they expire.

The clock is this module's ``now()``; tests monkeypatch it to move time.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Optional

import jwt
import sqlalchemy as sa
from flask import current_app

from ..domain_errors import DomainError
from ..extensions import db
from ..models import ADMIN_ROLES, RefreshToken, User, utcnow

ALGORITHM = "HS256"
TOKEN_TYPE = "Bearer"


def now() -> datetime:
    """The token clock (aware UTC); monkeypatch in tests to control expiry."""
    return utcnow()


class InvalidToken(DomainError):
    """A missing, expired, forged or revoked token: the API answers 401."""

    code = "unauthorized"
    status = 401


class FamilyRevoked(InvalidToken):
    """The token's login family was revoked just now (reuse, or the account was locked): the
    caller commits that revocation before answering 401."""


@dataclass(frozen=True)
class TokenPair:
    """What a login or a refresh hands the client."""

    access_token: str
    refresh_token: str
    expires_in: int
    user: User
    token_type: str = TOKEN_TYPE


def hash_token(raw: str) -> str:
    """The stored form of a refresh token (SHA-256; the tokens are random, no salt needed)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _access_ttl() -> int:
    return int(current_app.config["JWT_ACCESS_TTL"])


def _refresh_ttl() -> int:
    return int(current_app.config["JWT_REFRESH_TTL"])


def _key() -> str:
    return current_app.config["JWT_SECRET_KEY"]


def issue_access_token(user: User, family_id: str) -> str:
    """A signed access token for ``user`` within the login ``family_id``."""
    issued = now()
    claims = {
        "sub": str(user.id),
        "iat": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=_access_ttl())).timestamp()),
        "jti": uuid.uuid4().hex,
        "role": user.role,
        "sv": user.session_version,
        "fam": family_id,
    }
    return jwt.encode(claims, _key(), algorithm=ALGORITHM)


def _new_refresh_token(user: User, family_id: str, parent: Optional[RefreshToken]) -> str:
    raw = secrets.token_urlsafe(32)
    issued = now()
    db.session.add(
        RefreshToken(
            user_id=user.id,
            family_id=family_id,
            token_hash=hash_token(raw),
            parent_id=parent.id if parent is not None else None,
            issued_at=issued,
            expires_at=issued + timedelta(seconds=_refresh_ttl()),
        )
    )
    return raw


def _pair(user: User, family_id: str, parent: Optional[RefreshToken] = None) -> TokenPair:
    refresh = _new_refresh_token(user, family_id, parent)
    return TokenPair(
        access_token=issue_access_token(user, family_id),
        refresh_token=refresh,
        expires_in=_access_ttl(),
        user=user,
    )


def start_session(user: User) -> TokenPair:
    """A fresh token pair for a user who just proved who they are (a new family)."""
    return _pair(user, uuid.uuid4().hex)


def _claims(token: str) -> tuple[int, int, str]:
    """(user id, session version, login family) of a good access token; InvalidToken else."""
    try:
        claims = jwt.decode(
            token,
            _key(),
            algorithms=[ALGORITHM],
            # Time claims are checked below against this module's clock.
            options={
                "require": ["exp", "iat", "sub", "jti", "sv", "fam"],
                "verify_exp": False,
                "verify_iat": False,
            },
        )
    except jwt.PyJWTError:
        raise InvalidToken("The access token is invalid.") from None
    exp, sv, fam = claims.get("exp"), claims.get("sv"), claims.get("fam")
    if not isinstance(exp, int) or not isinstance(sv, int) or not isinstance(fam, str):
        raise InvalidToken("The access token is invalid.")
    if now().timestamp() >= exp:
        raise InvalidToken("The access token has expired; refresh it.")
    try:
        return int(claims["sub"]), sv, fam
    except (TypeError, ValueError):
        raise InvalidToken("The access token is invalid.") from None


def _check_account(account, revoked: bool, session_version: int) -> None:
    """The token's user (a User or a row with ``active`` and ``session_version``) must exist,
    be active and be on the token's session version, and its login family not be revoked."""
    if account is None or not account.active or account.session_version != session_version:
        raise InvalidToken("The access token is no longer valid; log in again.")
    if revoked:
        raise InvalidToken("This session has ended; log in again.")


def _family_revoked() -> sa.Exists:
    return sa.exists().where(
        RefreshToken.family_id == sa.bindparam("family_id"),
        RefreshToken.revoked_at.is_not(None),
    )


# Every API call pays for the token check, so it is one prebuilt statement and one round trip:
# the user and whether the token's login family was revoked. USER_AND_FAMILY loads the ORM
# user for views that act as them; CALLER_AND_FAMILY reads only what a read needs to know.
USER_AND_FAMILY = sa.select(User, _family_revoked().label("family_revoked")).where(
    User.id == sa.bindparam("user_id")
)
CALLER_AND_FAMILY = sa.select(
    User.id, User.role, User.active, User.session_version, _family_revoked().label("family_revoked")
).where(User.id == sa.bindparam("user_id"))


def user_for_access_token(token: str) -> User:
    """The user an access token belongs to; raise InvalidToken when it is not good any more."""
    user_id, session_version, family = _claims(token)
    params = {"user_id": user_id, "family_id": family}
    user, revoked = db.session.execute(USER_AND_FAMILY, params).first() or (None, False)
    _check_account(user, revoked, session_version)
    return user


@dataclass(frozen=True)
class Caller:
    """Who a good access token speaks for, as much as a read needs (``repairs.scope``): no ORM
    object, no session. Only an active user with a live token becomes one."""

    id: int
    role: str
    active: bool = True
    is_authenticated: bool = True

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES


def caller_for_access_token(token: str, connection: sa.Connection) -> Caller:
    """``user_for_access_token`` for a read on ``connection``: the same checks, one Core
    statement, no ORM user (the hottest API calls only need the caller's id and role)."""
    user_id, session_version, family = _claims(token)
    params = {"user_id": user_id, "family_id": family}
    found = connection.execute(CALLER_AND_FAMILY, params).first()
    _check_account(found, found is not None and found.family_revoked, session_version)
    return Caller(found.id, found.role)


def revoke_family(family_id: str) -> None:
    """Revoke every token of a login family."""
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now())
    )


def _find(raw: str) -> Optional[RefreshToken]:
    if not isinstance(raw, str) or not raw:
        return None
    return db.session.scalar(
        sa.select(RefreshToken).where(RefreshToken.token_hash == hash_token(raw))
    )


def refresh(raw: str) -> TokenPair:
    """Use a refresh token once and get the next pair of its family.

    A token used before revokes its family and raises FamilyRevoked; the caller commits
    that revocation before answering 401.
    """
    token = _find(raw)
    if token is None:
        raise InvalidToken("The refresh token is invalid.")
    if token.revoked_at is not None:
        raise InvalidToken("The refresh token was revoked; log in again.")
    moment = now()
    if token.used_at is not None:
        revoke_family(token.family_id)
        raise FamilyRevoked("The refresh token was already used; log in again.")
    if token.expires_at <= moment:
        raise InvalidToken("The refresh token has expired; log in again.")
    user = db.session.get(User, token.user_id)
    if user is None or not user.active or _family_predates_password(token, user):
        revoke_family(token.family_id)
        raise FamilyRevoked("This session has ended; log in again.")
    # Claim the token atomically: of two concurrent uses exactly one updates the row.
    claimed = db.session.execute(
        sa.update(RefreshToken)
        .where(
            RefreshToken.id == token.id,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
        )
        .values(used_at=moment)
        .execution_options(synchronize_session=False)
    ).rowcount
    if claimed != 1:
        revoke_family(token.family_id)
        raise FamilyRevoked("The refresh token was already used; log in again.")
    return _pair(user, token.family_id, parent=token)


def _family_predates_password(token: RefreshToken, user: User) -> bool:
    # A password change ends every login made with the old password.
    if user.password_changed_at is None:
        return False
    started = db.session.scalar(
        sa.select(sa.func.min(RefreshToken.issued_at)).where(
            RefreshToken.family_id == token.family_id
        )
    )
    if started is None:
        return False
    if started.tzinfo is None:  # an aggregate may bypass the column type
        started = started.replace(tzinfo=UTC)
    return started < user.password_changed_at


def logout(raw: str) -> bool:
    """Revoke the login family of a refresh token; False when the token is unknown."""
    token = _find(raw)
    if token is None:
        return False
    revoke_family(token.family_id)
    return True
