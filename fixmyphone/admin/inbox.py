"""The inbox: customer threads, unread first; replies are written on the request page."""

from __future__ import annotations

import sqlalchemy as sa
from flask import request
from flask_admin import expose
from flask_login import current_user

from ..extensions import db
from ..models import Message, ServiceRequest, User
from ..services import repairs
from .base import STAFF, SecuredPage

PAGE_SIZE = 50


def inbox_threads(viewer: User, page: int = 0) -> list[dict]:
    """One row per repair with customer messages: unread count, last message; unread first."""
    unread = sa.func.sum(sa.case((Message.read_by_staff_at.is_(None), 1), else_=0))
    last = sa.func.max(Message.created_at)
    stmt = (
        sa.select(
            ServiceRequest,
            unread.label("unread"),
            last.label("last"),
            sa.func.count(Message.id).label("total"),
        )
        .join(Message, Message.service_request_id == ServiceRequest.id)
        .where(Message.is_internal.is_(False))
        .group_by(ServiceRequest.id)
        .order_by((unread > 0).desc(), last.desc())
        .options(sa.orm.joinedload(ServiceRequest.customer))
        .limit(PAGE_SIZE)
        .offset(page * PAGE_SIZE)
    )
    stmt = stmt.where(repairs.visible_to(viewer))
    return [
        {"request": r, "unread": int(u or 0), "last": lst, "total": int(t)}
        for r, u, lst, t in db.session.execute(stmt).unique().all()
    ]


class InboxView(SecuredPage):
    """Customer message threads (technicians see the threads of their own repairs)."""

    access = STAFF

    @expose("/")
    def index(self):
        raw = request.args.get("page", "0")
        page = int(raw) if raw.isdigit() else 0
        return self.render(
            "admin/inbox.html",
            threads=inbox_threads(current_user, page),
            page=page,
            page_size=PAGE_SIZE,
        )
