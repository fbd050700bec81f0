"""In-app notifications: the bell's list and unread count, marking read, and where each
notification leads (the repair's tracking page for customers, its back-office page for staff).
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa

from .. import links
from ..domain_errors import NotFound
from ..extensions import db
from ..models import (
    Notification,
    NotificationChannel,
    NotificationStatus,
    ServiceRequest,
    User,
    utcnow,
)
from . import secret_links


def _in_app(user: User):
    return sa.select(Notification).where(
        Notification.user_id == user.id, Notification.channel == NotificationChannel.IN_APP
    )


def in_app_for(user: User):
    """A select of a user's in-app notifications, newest first (for pagination)."""
    return _in_app(user).order_by(Notification.created_at.desc(), Notification.id.desc())


def unread_count_query(user_id) -> sa.Select:
    """The count of a user's unread in-app notifications, as a statement (``user_id``: an id,
    or a column to correlate with)."""
    return (
        sa.select(sa.func.count(Notification.id))
        .where(Notification.user_id == user_id, Notification.channel == NotificationChannel.IN_APP)
        .where(Notification.read_at.is_(None))
    )


def unread_count(user: User) -> int:
    """How many in-app notifications the user has not read."""
    return int(db.session.scalar(unread_count_query(user.id)) or 0)


def mark_read(user: User, notification_id: Optional[int] = None) -> int:
    """Mark one (or, without an id, every) in-app notification of the user read."""
    stmt = (
        sa.update(Notification)
        .where(
            Notification.user_id == user.id,
            Notification.channel == NotificationChannel.IN_APP,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow(), status=NotificationStatus.READ)
        .execution_options(synchronize_session=False)
    )
    if notification_id is not None:
        if (
            db.session.scalar(
                _in_app(user)
                .where(Notification.id == notification_id)
                .with_only_columns(Notification.id)
            )
            is None
        ):
            raise NotFound("No such notification.")
        stmt = stmt.where(Notification.id == notification_id)
    return db.session.execute(stmt).rowcount or 0


def link_for(row: Notification) -> Optional[str]:
    """Where a notification leads: its own link, the repair's tracking page for customers,
    the repair's back-office page (or the back office) for staff."""
    ctx = row.context or {}
    if ctx.get("link"):
        return secret_links.live(row, ctx["link"])
    request = (
        db.session.get(ServiceRequest, row.service_request_id) if row.service_request_id else None
    )
    staff = ctx.get("audience") == "staff" or (row.user is not None and row.user.is_staff)
    if not staff:
        return links.tracking_url(request) if request is not None else None
    if request is not None:
        return links.staff_request_url(request.id)
    return links.back_office_url()
