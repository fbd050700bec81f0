"""The outbox's sending side: due rows claimed in batches, sent, and each row's outcome written.

A batch is claimed with one statement, ``WITH picked AS MATERIALIZED (SELECT ... LIMIT n FOR
UPDATE SKIP LOCKED) UPDATE ... WHERE id IN (SELECT id FROM picked) RETURNING``: two workers
draining at once never take the same row and never wait for each other (SQLite has one writer at a time, so there the same statement is atomic
without the lock clause, which it does not know). The batch's recipients and repairs are
loaded with one statement each, the messages go out one after another on the worker's kept
SMTP connection, and the outcomes are written at the end: the sent rows with one UPDATE, the
failed attempts (each with its own backoff, or failed for good) with one executemany.

At least once: a worker that dies mid-batch leaves its rows claimed ("sending"), and the outbox
sweep takes them back after OUTBOX_CLAIM_TIMEOUT_SECONDS to send them again (a rare repeat
rather than a lost notice). A batch still sending after half that time puts its untried rows
back, so the sweep never takes a row from a worker that is still at work.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Optional

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import (
    Notification,
    NotificationChannel,
    NotificationStatus,
    ServiceRequest,
    User,
    utcnow,
)
from . import delivery
from .notifications import retry_intervals

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What sending a batch came to: rows sent, failed for good, waiting for a retry (row ids
    by seconds to wait) and put back untried (the batch ran out of time)."""

    claimed: int = 0
    sent: int = 0
    failed: int = 0
    retries: dict[int, list[int]] = field(default_factory=dict)
    released: list[int] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        """The figures a job returns and logs."""
        return {
            "claimed": self.claimed,
            "sent": self.sent,
            "retrying": sum(len(ids) for ids in self.retries.values()),
            "failed": self.failed,
            "released": len(self.released),
        }


class Claimed(list):
    """Claimed rows, in id order, holding on to their users and repairs (the session keeps a
    loaded object only while something refers to it)."""

    related: list = []


def claim_due(
    limit: int, ids: Optional[Sequence[int]] = None, now: Optional[datetime] = None
) -> Claimed:
    """Take up to ``limit`` due rows for sending, in id order, with their recipients and
    repairs loaded; rows someone else has are skipped.

    A row is due when it is pending, not in-app, and its backoff (``send_after``) has passed;
    rows named in ``ids`` are due once pending (whoever named them chose the time: the sweep,
    or a retry enqueued for the end of their backoff). The claim must be durable before
    anything is sent: run it outside a transaction.
    """
    if ids is not None and not ids:
        return Claimed()
    params: dict = {"now": now or utcnow(), "limit": limit}
    if ids is not None:
        params["ids"] = list(ids)
    rows = Claimed(
        sorted(db.session.scalars(_claim_statement(ids is not None), params), key=_row_id)
    )
    rows.related = _load_related(rows)
    return rows


def _row_id(row: Notification) -> int:
    return row.id


# Built once: compiling the claim and outcome statements per batch is CPU for nothing.
@functools.cache
def _claim_statement(among_ids: bool) -> sa.Select:
    table = Notification.__table__
    now = sa.bindparam("now", type_=table.c.claimed_at.type)
    due = sa.select(table.c.id).where(
        table.c.status == NotificationStatus.PENDING,
        table.c.channel != NotificationChannel.IN_APP,
    )
    if among_ids:
        due = due.where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
    else:
        due = due.where(sa.or_(table.c.send_after.is_(None), table.c.send_after <= now))
    # A WITH query, run once: as a plain IN (subquery) PostgreSQL may run the subquery again
    # for a row another claim changed meanwhile and take more than ``limit`` rows (seen).
    picked = (
        due.order_by(table.c.id)
        .limit(sa.bindparam("limit"))
        .with_for_update(skip_locked=True)
        .cte("picked")
        .prefix_with("MATERIALIZED", dialect="postgresql")
    )
    update = (
        sa.update(table)
        .where(table.c.id.in_(sa.select(picked.c.id)))
        .where(table.c.status == NotificationStatus.PENDING)
        .values(status=NotificationStatus.SENDING, claimed_at=now, attempts=table.c.attempts + 1)
        .returning(*table.c)
    )
    return sa.select(Notification).from_statement(update).execution_options(populate_existing=True)


def _load_related(rows: list[Notification]) -> list:
    """Load the batch's users and repairs in one statement each: the messages then find them
    in the session instead of loading them one row at a time."""
    related: list = []
    for model, ids in (
        (User, {row.user_id for row in rows} - {None}),
        (ServiceRequest, {row.service_request_id for row in rows} - {None}),
    ):
        if ids:
            related += db.session.scalars(sa.select(model).where(model.id.in_(ids))).all()
    return related


def send_batch(rows: Iterable[Notification], deadline: float) -> Outcome:
    """Send each claimed row on its channel and write every outcome; rows not reached by
    ``deadline`` (``time.monotonic()``) are put back untried.

    A row that fails does not stop the others: it gets its own retry, on the rules of
    ``NOTIFY_MAX_ATTEMPTS`` and ``NOTIFY_RETRY_INTERVALS``, or fails for good. If the batch
    is interrupted (the job killed, the process stopping), what was done is still written and
    the untried rows go back; the row in flight stays claimed for the sweep.
    """
    rows = list(rows)
    outcome = Outcome(claimed=len(rows))
    sent: list[int] = []
    failures: list[dict] = []
    reached = 0  # rows[:reached] are sent or failed
    stopped = True  # until the loop ends normally, rows[reached] is in flight: left claimed
    try:
        for row in rows:
            if time.monotonic() > deadline:
                break
            try:
                delivery.send(row)
            except Exception as exc:  # noqa: BLE001 - every failure is this row's outcome
                failures.append(_failure(row, exc, outcome))
            else:
                sent.append(row.id)
            reached += 1
        stopped = False
    finally:
        outcome.sent = len(sent)
        outcome.released = [row.id for row in rows[reached + stopped :]]
        _write(sent, failures, outcome.released)
    if outcome.released:
        log.warning("batch out of time: %s notifications put back untried", len(outcome.released))
    return outcome


def _failure(row: Notification, exc: Exception, outcome: Outcome) -> dict:
    """The outcome of a failed attempt: a retry after its backoff, or failed for good."""
    error = error_text(exc)
    if isinstance(exc, delivery.PermanentDeliveryError):
        log.warning("notification %s failed for good: %s", row.id, error)
    elif row.attempts >= current_app.config["NOTIFY_MAX_ATTEMPTS"]:
        log.warning("notification %s failed after %s tries: %s", row.id, row.attempts, error)
    else:
        wait = retry_wait(row.attempts)
        outcome.retries.setdefault(wait, []).append(row.id)
        log.warning(
            "notification %s try %s failed, retrying in %ss: %s", row.id, row.attempts, wait, error
        )
        return _outcome_params(
            row.id, NotificationStatus.PENDING, utcnow() + timedelta(seconds=wait), error
        )
    outcome.failed += 1
    return _outcome_params(row.id, NotificationStatus.FAILED, None, error)


def retry_wait(attempts: int) -> int:
    """Seconds before the next try of a row that has had ``attempts`` tries."""
    intervals = retry_intervals() or [60]
    return intervals[min(attempts - 1, len(intervals) - 1)]


def error_text(exc: Exception) -> str:
    """How a failure is kept on its row."""
    return f"{type(exc).__name__}: {exc}"[:2000]


def _outcome_params(row_id: int, status: str, send_after, error: str) -> dict:
    return {
        "row_id": row_id,
        "new_status": status,
        "new_send_after": send_after,
        "new_error": error,
    }


def _write(sent: list[int], failures: list[dict], untried: list[int]) -> None:
    """Write a batch's outcomes (at most three statements, each releasing its rows' claim)."""
    if sent:
        db.session.execute(_sent_statement(), {"ids": sent, "now": utcnow()})
    if failures:
        db.session.execute(_failure_statement(), failures)
    if untried:
        db.session.execute(_release_statement(), {"ids": untried})
    db.session.commit()


@functools.cache
def _sent_statement() -> sa.Update:
    table = Notification.__table__
    return (
        sa.update(table)
        .where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
        .values(
            status=NotificationStatus.SENT,
            sent_at=sa.bindparam("now", type_=table.c.sent_at.type),
            claimed_at=None,
            last_error=None,
        )
    )


@functools.cache
def _failure_statement() -> sa.Update:
    table = Notification.__table__
    return (
        sa.update(table)
        .where(table.c.id == sa.bindparam("row_id"))
        .values(
            status=sa.bindparam("new_status", type_=table.c.status.type),
            send_after=sa.bindparam("new_send_after", type_=table.c.send_after.type),
            last_error=sa.bindparam("new_error", type_=table.c.last_error.type),
            claimed_at=None,
        )
    )


@functools.cache
def _release_statement() -> sa.Update:
    """Untried rows go back to pending as they were (their claim did not count as a try)."""
    table = Notification.__table__
    return (
        sa.update(table)
        .where(table.c.id.in_(sa.bindparam("ids", expanding=True)))
        .where(table.c.status == NotificationStatus.SENDING)
        .values(status=NotificationStatus.PENDING, claimed_at=None, attempts=table.c.attempts - 1)
    )
