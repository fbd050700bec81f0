"""Password-reset tokens: signed, expiring, and spent once the password changes.

Kept apart from ``accounts`` so that ``secret_links`` can make a fresh one when a message is
sent without importing the accounts service (which itself sends notifications).
"""

from __future__ import annotations

import hashlib
from typing import Optional

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..extensions import db
from ..models import User


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="password-reset")


def _password_fingerprint(user: User) -> str:
    # Changes when the password changes, so a used link stops working (single use).
    return hashlib.sha256((user.password_hash or "unset").encode()).hexdigest()[:16]


def make_reset_token(user: User) -> str:
    """A signed, expiring token that works until the password next changes."""
    return _serializer().dumps({"uid": user.id, "fp": _password_fingerprint(user)})


def user_for_reset_token(token: str) -> Optional[User]:
    """The user a reset token is for, or None if it is forged, expired or already used."""
    max_age = current_app.config["PASSWORD_RESET_MAX_AGE"]
    try:
        data = _serializer().loads(token, max_age=max_age)
    except (BadSignature, SignatureExpired):
        return None
    user = db.session.get(User, data.get("uid"))
    if user is None or not user.active or data.get("fp") != _password_fingerprint(user):
        return None
    return user
