"""Finding a repair without logging in: by private token, or by reference plus email or phone.

Every failure answers None the same way, so the lookup cannot tell a caller whether a
reference exists (no enumeration); the public form that uses it is rate-limited.
"""

from __future__ import annotations

import hmac
import re
from typing import Optional

import sqlalchemy as sa

from ..extensions import db
from ..models import ServiceRequest, normalise_email

MIN_PHONE_DIGITS = 7


def normalise_reference(value: Optional[str]) -> str:
    """'fmp 24a7k9', 'FMP-24A7K9' and '24A7K9' all become 'FMP-24A7K9'."""
    cleaned = re.sub(r"[^0-9A-Za-z]", "", value or "").upper()
    if cleaned.startswith("FMP"):
        cleaned = cleaned[3:]
    return f"FMP-{cleaned}" if cleaned else ""


def _digits(value: Optional[str]) -> str:
    return re.sub(r"\D", "", value or "")


def contact_matches(request: ServiceRequest, contact: str) -> bool:
    """True when ``contact`` is the customer's email, or their phone number (digits compared)."""
    contact = (contact or "").strip()
    customer = request.customer
    if "@" in contact:
        return hmac.compare_digest(normalise_email(contact), customer.email)
    wanted = _digits(contact)
    phone = customer.customer_profile.phone if customer.customer_profile else None
    have = _digits(phone)
    if len(wanted) < MIN_PHONE_DIGITS or not have:
        return False
    # A customer may type a local number for an international one (or the other way round).
    shorter, longer = sorted((wanted, have), key=len)
    return len(shorter) >= MIN_PHONE_DIGITS and longer.endswith(shorter)


def find_by_reference(reference: str, contact: str) -> Optional[ServiceRequest]:
    """The request with this reference whose customer has this email or phone, else None."""
    ref = normalise_reference(reference)
    if not ref or len(ref) > 12:
        return None
    request = db.session.scalar(sa.select(ServiceRequest).where(ServiceRequest.reference == ref))
    if request is None or not contact_matches(request, contact):
        return None
    return request


def find_by_token(token: str) -> Optional[ServiceRequest]:
    """The request behind a private tracking link, or None."""
    if not token or len(token) > 64:
        return None
    return db.session.scalar(
        sa.select(ServiceRequest).where(ServiceRequest.tracking_token == token)
    )
