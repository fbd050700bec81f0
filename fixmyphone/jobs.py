"""Background jobs. Each takes ids, reloads in its own session, does one thing, logs failures."""

from __future__ import annotations

import logging

from .extensions import db
from .models import Notification, utcnow

log = logging.getLogger(__name__)


def deliver_notification(notification_id: int) -> None:
    """Send one outbox row through its channel; idempotent (a sent row is left alone)."""
    from .services import delivery

    row = db.session.get(Notification, notification_id)
    if row is None or row.status != "pending":
        return
    row.attempts += 1
    try:
        delivery.send(row)
    except Exception as exc:
        row.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        db.session.commit()
        log.warning("notification %s failed: %s", notification_id, row.last_error)
        raise
    row.status = "sent"
    row.sent_at = utcnow()
    row.last_error = None
    db.session.commit()
