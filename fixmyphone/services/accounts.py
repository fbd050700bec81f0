"""Accounts: registration, authentication, password resets, deactivation."""

from __future__ import annotations

import functools
import re
import secrets
from typing import Optional

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from .. import links
from ..domain_errors import Conflict, ValidationFailed
from ..extensions import db
from ..models import (
    ROLES,
    CustomerProfile,
    RefreshToken,
    Role,
    User,
    normalise_email,
    utcnow,
)
from . import audit, notifications
from .reset_tokens import make_reset_token, user_for_reset_token

MIN_PASSWORD_LENGTH = 8
# A phone number: an optional +, then 6 to 24 digits, spaces, brackets, dashes or dots, neither
# starting nor ending with a space. The API documents this same pattern, so a number the
# document allows is one this check allows (forms strip their input first).
PHONE_PATTERN = r"^\+?[0-9()\-.][0-9 ()\-.]{4,22}[0-9()\-.]$"
PHONE_RE = re.compile(PHONE_PATTERN)
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
COMMON_PASSWORDS = {"password", "password1", "12345678", "123456789", "qwertyui", "iloveyou"}


def password_problem(password: str) -> Optional[str]:
    """Why a password is too weak, or None if it is acceptable."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        return f"Use at least {MIN_PASSWORD_LENGTH} characters."
    if len(password) > 128:
        return "Use at most 128 characters."
    if password.lower() in COMMON_PASSWORDS:
        return "That password is too common; choose another."
    return None


def phone_problem(phone: Optional[str]) -> Optional[str]:
    """Why a phone number is not acceptable, or None."""
    if phone and not PHONE_RE.match(phone.strip()):
        return "Enter a phone number with digits, spaces and an optional leading +."
    return None


def find_by_email(email: str) -> Optional[User]:
    """The user with this email, compared case-insensitively."""
    return db.session.scalar(sa.select(User).where(User.email == normalise_email(email)))


def set_password(user: User, password: str) -> None:
    """Hash a new password with the configured method; every login and reset link dies."""
    user.set_password(password, method=current_app.config["PASSWORD_HASH_METHOD"])
    end_sessions(user)


# An invited account's stored hash until its owner chooses a password: no hash method's output
# starts with "!", so no password matches it. Each invitation draws a new one, and a set-password
# link is bound to the stored hash, so drawing a new one retires the links sent before.
UNUSABLE_PASSWORD_PREFIX = "!"


def set_unusable_password(user: User) -> None:
    """Lock the password until its owner chooses one (an invited account); retire old links."""
    user.password_hash = UNUSABLE_PASSWORD_PREFIX + secrets.token_urlsafe(24)


def has_usable_password(user: User) -> bool:
    """True once the owner has chosen a password (False for an invited or walk-in account)."""
    return bool(user.password_hash) and not user.password_hash.startswith(UNUSABLE_PASSWORD_PREFIX)


def create_user(
    *,
    email: str,
    password: Optional[str],
    full_name: str,
    role: str = Role.CUSTOMER,
    phone: Optional[str] = None,
    actor: Optional[User] = None,
) -> User:
    """Create an account (customers get a profile); raise on a taken email or weak password."""
    errors: dict[str, list[str]] = {}
    email_n = normalise_email(email or "")
    if not EMAIL_RE.match(email_n) or len(email_n) > 254:
        errors["email"] = ["Enter a valid email address."]
    if password is not None and (problem := password_problem(password)):
        errors["password"] = [problem]
    if not (full_name or "").strip():
        errors["full_name"] = ["Tell us your name."]
    elif len(full_name.strip()) > 120:
        errors["full_name"] = ["At most 120 characters."]
    if problem := phone_problem(phone):
        errors["phone"] = [problem]
    if role not in ROLES:
        errors["role"] = ["Unknown role."]
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)
    if find_by_email(email_n):
        raise Conflict(
            "An account with this email already exists.",
            fields={"email": ["An account with this email already exists."]},
        )
    user = User(email=email_n, full_name=full_name.strip(), role=role)
    if password is not None:
        user.set_password(password, method=current_app.config["PASSWORD_HASH_METHOD"])
    if role == Role.CUSTOMER:
        user.customer_profile = CustomerProfile(phone=(phone or "").strip() or None)
    db.session.add(user)
    db.session.flush()
    audit.record(actor or user, "user_created", user, after={"email": email_n, "role": role})
    return user


@functools.cache
def _decoy_hash(method: str) -> str:
    return generate_password_hash(secrets.token_hex(16), method=method)


def authenticate(email: str, password: str) -> Optional[User]:
    """The active user with these credentials, or None (same answer for every failure).

    An unknown email costs the same slow hash as a wrong password, so the response time does
    not tell an attacker which emails have accounts.
    """
    user = find_by_email(email or "")
    if user is None or not has_usable_password(user):
        check_password_hash(_decoy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password or "")
        return None
    if not user.check_password(password or "") or not user.active:
        return None
    user.last_login_at = utcnow()
    return user


def deactivate(user: User, actor: Optional[User]) -> None:
    """Lock an account: sessions end, API tokens stop working, refresh tokens are revoked."""
    user.active = False
    end_sessions(user)
    audit.record(actor, "user_deactivated", user)


def reactivate(user: User, actor: Optional[User]) -> None:
    """Let a deactivated user log in again."""
    user.active = True
    audit.record(actor, "user_reactivated", user)


# ---------------------------------------------------------------- ending sessions


def end_browser_sessions(user: User) -> None:
    """Log a user out of every browser: a copied ``session`` or ``remember_token`` cookie is
    anonymous from now on, and API access tokens must be refreshed.

    Both cookies carry ``User.get_id()``, which holds the session version the user loader
    compares with the database; API access tokens carry it as their ``sv`` claim.
    """
    user.session_version = (user.session_version or 1) + 1


def end_sessions(user: User) -> None:
    """End every login of a user, web and API (a password change or reset, a deactivation,
    a role change): browser sessions, remember-me cookies, access and refresh tokens."""
    end_browser_sessions(user)
    revoke_refresh_tokens(user)


def revoke_refresh_tokens(user: User) -> None:
    """Revoke every live refresh token of a user."""
    db.session.execute(
        sa.update(RefreshToken)
        .where(RefreshToken.user_id == user.id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )


# ---------------------------------------------------------------- password reset


def send_password_reset(user: User, *, welcome: bool = False, intro: Optional[str] = None) -> None:
    """Queue an email with a reset link (also used to invite walk-in customers and new staff,
    ``welcome``; ``intro`` says why the person gets it)."""
    token = make_reset_token(user)
    notifications.notify(
        user,
        "password_reset",
        dedup_key=f"password_reset:{user.id}:{token[-16:]}",
        channels=["email"],
        values={
            "welcome": welcome,
            "intro": intro,
            "link": links.reset_password_url(token),
            "hours": current_app.config["PASSWORD_RESET_MAX_AGE"] // 3600 or 1,
        },
    )


def request_password_reset(email: str) -> None:
    """Send a reset link if the account exists; say nothing either way (no enumeration)."""
    user = find_by_email(email or "")
    if user is not None and user.active:
        send_password_reset(user)


def reset_password(token: str, password: str) -> User:
    """Set a new password from a valid reset token."""
    user = user_for_reset_token(token)
    if user is None:
        raise ValidationFailed("This reset link is invalid, expired or already used.")
    if problem := password_problem(password):
        raise ValidationFailed(problem, fields={"password": [problem]})
    set_password(user, password)
    audit.record(user, "password_reset", user)
    return user
