"""Message threads per repair between the customer and the shop, plus staff-only notes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import sqlalchemy as sa
from flask import g, has_request_context

from ..domain_errors import Forbidden, ValidationFailed
from ..extensions import db
from ..loading import Rows
from ..models import Message, ServiceRequest, User, utcnow
from . import audit, in_app, notifications

MAX_BODY = 5000


def post_message(
    request: ServiceRequest, sender: User, body: str, *, internal: bool = False
) -> Message:
    """Add a message to a repair's thread and tell the other side."""
    body = (body or "").strip()
    if not body:
        raise ValidationFailed(
            "Write a message first.", fields={"body": ["Write a message first."]}
        )
    if len(body) > MAX_BODY:
        raise ValidationFailed(
            f"At most {MAX_BODY} characters.", fields={"body": [f"At most {MAX_BODY} characters."]}
        )
    if internal and not sender.is_staff:
        raise Forbidden("Only staff can write internal notes.")
    from_staff = sender.is_staff
    now = utcnow()
    message = Message(
        service_request=request,
        sender=sender,
        body=body,
        is_internal=internal,
        created_at=now,
        # The author has read their own message.
        read_by_staff_at=now if from_staff else None,
        read_by_customer_at=None if from_staff else now,
    )
    db.session.add(message)
    db.session.flush()
    audit.record(sender, "message_posted", message, after={"internal": internal})
    if from_staff and not internal:
        notifications.notify(
            request.customer,
            "message_received",
            dedup_key=f"message:{message.id}",
            service_request=request,
            values={"message": message},
        )
    elif not from_staff:
        notify_staff_of_message(request, message)
    return message


def notify_staff_of_message(request: ServiceRequest, message: Message) -> None:
    """A customer wrote: alert the admins and the assigned technician (in the back office)."""
    notifications.alert_staff(
        "customer_message",
        dedup_key=f"customer_message:{message.id}",
        service_request=request,
        technician=request.technician,
        channels=("in_app",),
        values={"message": message},
    )


def thread_rows(request: ServiceRequest, *, staff: bool) -> Rows:
    """The messages staff, or the customer, may see, oldest first (customers never see
    internal notes), as a list to read (``loading``; ``SENDERS`` loads their senders)."""
    where = [Message.service_request_id == request.id]
    if not staff:
        where.append(Message.is_internal.is_(False))
    return Rows(Message, where, [Message.created_at, Message.id])


SENDERS = sa.orm.joinedload(Message.sender)


def thread(request: ServiceRequest, viewer: User) -> list[Message]:
    """The messages a viewer may see, oldest first, with their senders."""
    return list(
        db.session.scalars(thread_rows(request, staff=viewer.is_staff).select().options(SENDERS))
    )


def mark_read(request: ServiceRequest, viewer: User) -> int:
    """Mark the other side's messages read for this viewer; returns how many changed."""
    now = utcnow()
    if viewer.is_staff:
        stmt = (
            sa.update(Message)
            .where(Message.service_request_id == request.id, Message.read_by_staff_at.is_(None))
            .values(read_by_staff_at=now)
        )
    else:
        stmt = (
            sa.update(Message)
            .where(
                Message.service_request_id == request.id,
                Message.read_by_customer_at.is_(None),
                Message.is_internal.is_(False),
            )
            .values(read_by_customer_at=now)
        )
    return db.session.execute(stmt).rowcount or 0


def _unread_for_customer_query(customer_id) -> sa.Select:
    return (
        sa.select(sa.func.count(Message.id))
        .join(ServiceRequest, Message.service_request_id == ServiceRequest.id)
        .where(
            ServiceRequest.customer_id == customer_id,
            Message.is_internal.is_(False),
            Message.read_by_customer_at.is_(None),
        )
    )


def unread_for_customer(customer: User, request_id: Optional[int] = None) -> int:
    """Shop messages the customer has not read (all repairs, or one)."""
    stmt = _unread_for_customer_query(customer.id)
    if request_id is not None:
        stmt = stmt.where(ServiceRequest.id == request_id)
    return int(db.session.scalar(stmt) or 0)


@dataclass(frozen=True)
class Unread:
    """The page header's badges: unread in-app notifications and, for a customer, unread shop
    messages (0 for staff)."""

    notifications: int
    messages: int


def unread_in_header(user: User) -> Unread:
    """The header's two counts, counted once per request (every page shows them, some twice):
    read with the logged-in user (``user_with_unread``), else in one statement here."""
    cached = g.get("unread_in_header") if has_request_context() else None
    if cached is not None and cached[0] == user.id:
        return cached[1]
    row = db.session.execute(sa.select(*_unread_columns(user.id))).one()
    return _remember(user, *row)


def user_with_unread(user_id: int) -> Optional[User]:
    """The user ``user_id`` names, read with the header's counts in the same statement (so a
    logged-in page reads who is asking and what they have not read at once)."""
    row = db.session.execute(
        sa.select(User, *_unread_columns(User.id)).where(User.id == user_id)
    ).first()
    if row is None:
        return None
    _remember(row[0], row[1], row[2])
    return row[0]


def _unread_columns(user_id) -> tuple:
    """Unread in-app notifications and unread shop messages of ``user_id`` (an id or a
    column), as two columns."""
    return (
        in_app.unread_count_query(user_id).scalar_subquery(),
        _unread_for_customer_query(user_id).scalar_subquery(),
    )


def _remember(user: User, notifications: Optional[int], messages: Optional[int]) -> Unread:
    # Staff get no message badge (the shop's messages are theirs to answer, in the inbox).
    counts = Unread(int(notifications or 0), 0 if user.is_staff else int(messages or 0))
    if has_request_context():
        g.unread_in_header = (user.id, counts)
    return counts


def unread_for_staff_query() -> sa.Select:
    """The count of customer messages no staff member has read yet, as a statement."""
    return sa.select(sa.func.count(Message.id)).where(Message.read_by_staff_at.is_(None))


def unread_for_staff() -> int:
    """Customer messages no staff member has read yet."""
    return int(db.session.scalar(unread_for_staff_query()) or 0)
