"""Device passcodes: stored encrypted (Fernet, key derived from SECRET_KEY), shown to staff only."""

from __future__ import annotations

import base64
import hashlib
from typing import Optional

from cryptography.fernet import Fernet, InvalidToken
from flask import current_app

from ..domain_errors import Forbidden, ValidationFailed
from ..models import ServiceRequest, User
from . import audit
from .repairs import may_move

MAX_PASSCODE = 64


def _fernet() -> Fernet:
    # A separate derivation so the Fernet key is never the session-signing key itself.
    secret = current_app.config["SECRET_KEY"].encode()
    digest = hashlib.sha256(b"fixmyphone-passcode:" + secret).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


def encrypt(passcode: str) -> str:
    """Encrypt a passcode for storage."""
    return _fernet().encrypt(passcode.encode()).decode()


def decrypt(token: Optional[str]) -> Optional[str]:
    """The clear passcode, or None when there is none or the key changed."""
    if not token:
        return None
    try:
        return _fernet().decrypt(token.encode()).decode()
    except InvalidToken:
        return None


def set_passcode(request: ServiceRequest, passcode: Optional[str], actor: User) -> None:
    """Store (or with an empty value, erase) the device passcode the customer gave."""
    if not actor.is_staff:
        raise Forbidden("Only staff handle device passcodes.")
    passcode = (passcode or "").strip()
    if len(passcode) > MAX_PASSCODE:
        raise ValidationFailed(f"At most {MAX_PASSCODE} characters.")
    request.passcode_encrypted = encrypt(passcode) if passcode else None
    # The audit entry never contains the passcode itself.
    audit.record(actor, "passcode_set" if passcode else "passcode_erased", request)


def reveal(request: ServiceRequest, actor: User) -> Optional[str]:
    """The passcode for the technician working on the device; each reading is audited."""
    if not may_move(actor, request):
        raise Forbidden("Only the assigned technician or an admin may read the passcode.")
    value = decrypt(request.passcode_encrypted)
    if value is not None:
        audit.record(actor, "passcode_viewed", request)
    return value
