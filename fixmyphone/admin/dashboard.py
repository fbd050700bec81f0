"""The dashboard (back-office home): what a shop lead opens first, what a technician works on.

Each section is a short list linking to the repair page: today's appointments by technician,
repairs waiting on the shop, ready for pickup, overdue, unpaid. Every list is one statement
(joined loads and aggregated subqueries, no query per row), scoped to the repairs the person may
see (``repairs.visible_to``), so the page costs the same however big the shop is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Optional
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_admin import expose
from flask_login import current_user

from .. import workflow
from ..extensions import db
from ..models import (
    APPOINTMENT_SCHEDULED,
    Appointment,
    Payment,
    ServiceRequest,
    StatusChange,
    User,
    utcnow,
)
from ..services import inventory, messages, repairs
from ..services.billing import balances
from .base import SecuredIndexView
from .filters import overdue_clause

OFFLINE_METHODS = ("cash", "card_terminal", "bank_transfer")
# Repairs waiting on the shop: not started, waiting for parts, put on hold.
WAITING_STATUSES = ("pending", "awaiting_parts", "on_hold")
READY_STATUS = "ready_for_pickup"
# How many rows each section lists (its badge counts them all).
SECTION_SIZE = 8
QUEUE_SIZE = 100


def today_bounds() -> tuple[datetime, datetime]:
    """Start and end of the shop-local today, as UTC."""
    tz = ZoneInfo(current_app.config["SHOP_TIMEZONE"])
    today = datetime.now(tz).date()
    start = datetime.combine(today, time(0), tzinfo=tz)
    utc = ZoneInfo("UTC")
    return start.astimezone(utc), (start + timedelta(days=1)).astimezone(utc)


def age(moment: Optional[datetime], now: Optional[datetime] = None) -> str:
    """How long ago, in the words a shop uses: '40 min', '5 h', '1 day', '12 days'."""
    if moment is None:
        return ""
    seconds = max(((now or utcnow()) - moment).total_seconds(), 0)
    if seconds < 3600:
        return f"{max(int(seconds // 60), 1)} min"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h"
    days = int(seconds // 86400)
    return "1 day" if days == 1 else f"{days} days"


@dataclass
class TechnicianDay:
    """One technician's (or nobody's) appointments today."""

    name: str
    appointments: list[Appointment]


def appointments_today(user: User) -> list[TechnicianDay]:
    """Today's scheduled drop-offs grouped by who takes them (the appointment's technician, else
    the repair's), technicians by name, the unassigned last; for a technician, their own."""
    start, end = today_bounds()
    stmt = (
        sa.select(Appointment)
        .join(Appointment.service_request)
        .where(
            Appointment.start >= start,
            Appointment.start < end,
            Appointment.status == APPOINTMENT_SCHEDULED,
            repairs.visible_to(user),
        )
        .options(
            sa.orm.contains_eager(Appointment.service_request).joinedload(
                ServiceRequest.technician
            ),
            sa.orm.joinedload(Appointment.customer),
            sa.orm.joinedload(Appointment.technician),
        )
        .order_by(Appointment.start, Appointment.id)
        .limit(QUEUE_SIZE)
    )
    groups: dict[Optional[int], TechnicianDay] = {}
    for appointment in db.session.scalars(stmt).unique():
        who = appointment.technician or appointment.service_request.technician
        key = who.id if who is not None else None
        if key not in groups:
            groups[key] = TechnicianDay(who.full_name if who else "Not assigned", [])
        groups[key].appointments.append(appointment)
    return sorted(groups.values(), key=lambda g: (g.name == "Not assigned", g.name.lower()))


def _status_since():
    """When each repair entered its current status (its latest status change)."""
    return (
        sa.select(
            StatusChange.service_request_id.label("rid"),
            sa.func.max(StatusChange.created_at).label("since"),
        )
        .group_by(StatusChange.service_request_id)
        .subquery()
    )


def waiting_repairs(user: User) -> list[tuple[ServiceRequest, datetime]]:
    """Repairs waiting on the shop (pending, awaiting parts, on hold), longest-waiting first,
    each with when it started waiting."""
    changed = _status_since()
    since = sa.func.coalesce(changed.c.since, ServiceRequest.created_at)
    rows = db.session.execute(
        sa.select(ServiceRequest, since.label("since"))
        .outerjoin(changed, changed.c.rid == ServiceRequest.id)
        .where(ServiceRequest.status.in_(WAITING_STATUSES), repairs.visible_to(user))
        .options(sa.orm.joinedload(ServiceRequest.technician))
        .order_by(since, ServiceRequest.id)
        .limit(SECTION_SIZE)
    ).all()
    return [(request, _aware(moment)) for request, moment in rows]


def ready_for_pickup(user: User) -> list[ServiceRequest]:
    """Repairs ready to collect, the ones waiting longest first."""
    return list(
        db.session.scalars(
            sa.select(ServiceRequest)
            .where(ServiceRequest.status == READY_STATUS, repairs.visible_to(user))
            .options(sa.orm.joinedload(ServiceRequest.customer))
            .order_by(ServiceRequest.ready_at.is_(None), ServiceRequest.ready_at, ServiceRequest.id)
            .limit(SECTION_SIZE)
        )
    )


def overdue(user: User) -> tuple[list[ServiceRequest], int]:
    """Open repairs past their estimated completion (most overdue first), and how many."""
    where = (overdue_clause(), repairs.visible_to(user))
    listed = db.session.scalars(
        sa.select(ServiceRequest)
        .where(*where)
        .options(sa.orm.joinedload(ServiceRequest.technician))
        .order_by(ServiceRequest.estimated_completion, ServiceRequest.id)
        .limit(SECTION_SIZE)
    ).all()
    count = db.session.scalar(sa.select(sa.func.count(ServiceRequest.id)).where(*where))
    return list(listed), int(count or 0)


def unpaid(user: User) -> tuple[list[tuple[ServiceRequest, int]], int, int]:
    """Repairs with a balance due (billing's rule, aggregated in SQL), the oldest first: the
    listed ones with their balance, how many owe, and how much in all."""
    owing = balances.balances_due().subquery()
    where = repairs.visible_to(user)
    rows = db.session.execute(
        sa.select(ServiceRequest, owing.c.balance_due)
        .join(owing, owing.c.service_request_id == ServiceRequest.id)
        .where(where)
        .options(sa.orm.joinedload(ServiceRequest.customer))
        .order_by(ServiceRequest.created_at, ServiceRequest.id)
        .limit(SECTION_SIZE)
    ).all()
    count, total = db.session.execute(
        sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(owing.c.balance_due), 0))
        .select_from(owing)
        .join(ServiceRequest, owing.c.service_request_id == ServiceRequest.id)
        .where(where)
    ).one()
    return [(r, int(due)) for r, due in rows], int(count or 0), int(total or 0)


def counts_by_status(user: User) -> dict[str, int]:
    """How many repairs the person may see are in each status."""
    return dict(
        db.session.execute(
            sa.select(ServiceRequest.status, sa.func.count(ServiceRequest.id))
            .where(repairs.visible_to(user))
            .group_by(ServiceRequest.status)
        ).all()
    )


def my_queue(user: User) -> list[ServiceRequest]:
    """A technician's open repairs, the soonest due first (undated last)."""
    return list(
        db.session.scalars(
            sa.select(ServiceRequest)
            .where(
                repairs.visible_to(user),
                ServiceRequest.status.not_in(workflow.FINAL_STATUSES),
            )
            .order_by(
                ServiceRequest.estimated_completion.is_(None),
                ServiceRequest.estimated_completion,
                ServiceRequest.id,
            )
            .limit(QUEUE_SIZE)
        )
    )


def shop_figures() -> dict:
    """The admins' second row: repairs by status, low stock, payments to verify, messages."""
    pending_payments = db.session.execute(
        sa.select(
            sa.func.count(Payment.id), sa.func.coalesce(sa.func.sum(Payment.amount), 0)
        ).where(Payment.status == "pending", Payment.method.in_(OFFLINE_METHODS))
    ).one()
    return {
        "low_stock": inventory.low_stock_parts(limit=SECTION_SIZE),
        "low_stock_count": db.session.scalar(
            sa.select(sa.func.count()).select_from(inventory.low_stock_query().subquery())
        ),
        "pending_payments": (int(pending_payments[0]), int(pending_payments[1])),
        "unread_messages": messages.unread_for_staff(),
    }


def dashboard_for(user: User) -> dict:
    """Everything the dashboard shows this person, in a fixed number of queries."""
    by_status = counts_by_status(user)
    overdue_list, overdue_count = overdue(user)
    figures = {
        "appointments": appointments_today(user),
        "waiting": waiting_repairs(user),
        "waiting_counts": [(s, workflow.label(s), by_status.get(s, 0)) for s in WAITING_STATUSES],
        "waiting_count": sum(by_status.get(s, 0) for s in WAITING_STATUSES),
        "overdue": overdue_list,
        "overdue_count": overdue_count,
        "by_status": [(s, workflow.label(s), by_status.get(s, 0)) for s in workflow.STATUSES],
    }
    figures["appointment_count"] = sum(len(g.appointments) for g in figures["appointments"])
    if user.is_admin:
        unpaid_list, unpaid_count, unpaid_total = unpaid(user)
        figures.update(
            ready=ready_for_pickup(user),
            ready_count=by_status.get(READY_STATUS, 0),
            unpaid=unpaid_list,
            unpaid_count=unpaid_count,
            unpaid_total=unpaid_total,
            queue=None,
            **shop_figures(),
        )
    else:
        figures["queue"] = my_queue(user)
    return figures


def _aware(moment: Optional[datetime]) -> Optional[datetime]:
    # An aggregate (max, coalesce) may bypass the column's UTC type on SQLite.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if moment is not None and moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo("UTC"))
    return moment


class DashboardView(SecuredIndexView):
    """Admins get the shop's day; technicians their own day and queue."""

    @expose("/")
    def index(self):
        return self.render(
            "admin/index.html", figures=dashboard_for(current_user), age=age, now=utcnow()
        )
