"""Payment jobs: apply stored Stripe webhook events outside the request (they take ids)."""

from __future__ import annotations

import logging
from datetime import timedelta

import sqlalchemy as sa

from ..extensions import db
from ..models import StripeEvent, utcnow

log = logging.getLogger(__name__)


def process_stripe_event(event_id: str) -> None:
    """Apply one webhook event, then retry events that were waiting for it."""
    from ..services.payments import handle_event

    try:
        handle_event(event_id)
        db.session.commit()
    except Exception:
        db.session.rollback()
        log.exception("stripe event %s failed; it stays 'received' for a retry", event_id)
        raise
    row = db.session.get(StripeEvent, event_id)
    if row is not None and row.status == "processed":
        replay_deferred_events()


def _apply_each(ids: list[str], what: str) -> int:
    """Apply stored events one by one, each in its own transaction; returns how many failed."""
    from ..services.payments import handle_event

    failed = 0
    for event_id in ids:
        try:
            handle_event(event_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            failed += 1
            log.exception("%s stripe event %s failed", what, event_id)
    return failed


def replay_deferred_events() -> int:
    """Try again every event that could not be matched to our rows yet; returns how many."""
    ids = db.session.scalars(
        sa.select(StripeEvent.id)
        .where(StripeEvent.status == "deferred")
        .order_by(StripeEvent.received_at, StripeEvent.id)
    ).all()
    _apply_each(ids, "replaying")
    return len(ids)


def retry_unprocessed_events(older_than_seconds: int = 300) -> dict[str, int]:
    """A periodic sweep for events whose job was lost (Redis down, worker crash)."""
    cutoff = utcnow() - timedelta(seconds=older_than_seconds)
    ids = db.session.scalars(
        sa.select(StripeEvent.id).where(
            StripeEvent.status.in_(("received", "deferred")), StripeEvent.received_at < cutoff
        )
    ).all()
    return {"retried": len(ids), "failed": _apply_each(ids, "retrying")}
