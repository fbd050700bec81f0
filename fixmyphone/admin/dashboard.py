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
from ..database import reads_outside_transaction
from ..extensions import db
from ..models import (
    OFFLINE_METHODS,
    Appointment,
    AppointmentStatus,
    Payment,
    PaymentStatus,
    RepairStatus,
    ServiceRequest,
    StatusChange,
    User,
    UTCDateTime,
    utcnow,
)
from ..services import inventory, messages, repairs
from ..services.billing import balances
from .base import SecuredIndexView
from .filters import overdue_clause

# Repairs waiting on the shop: not started, waiting for parts, put on hold.
WAITING_STATUSES = (RepairStatus.PENDING, RepairStatus.AWAITING_PARTS, RepairStatus.ON_HOLD)
READY_STATUS = RepairStatus.READY_FOR_PICKUP
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
            Appointment.status == AppointmentStatus.SCHEDULED,
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


def _status_since() -> sa.ColumnElement:
    """When a repair entered its current status (its latest status change), per repair: an
    index lookup for each repair listed, not an aggregate over the whole history."""
    latest = (
        sa.select(sa.func.max(StatusChange.created_at))
        .where(StatusChange.service_request_id == ServiceRequest.id)
        .scalar_subquery()
    )
    return sa.func.coalesce(latest, ServiceRequest.created_at)


# The dashboard's lists of repairs, read together (``_sections``).
WAITING, READY, OVERDUE, UNPAID, QUEUE = range(5)


def _section(number: int, stmt: sa.Select, order: list, size: int, since=None, due=None, rid=None):
    """One list of repairs as rows of the dashboard's UNION: (section, repair id, position, when
    it started waiting, balance due), its first ``size`` in ``order``."""
    listed = (
        stmt.with_only_columns(
            sa.literal_column(str(number)).label("section"),
            (ServiceRequest.id if rid is None else rid).label("rid"),
            sa.func.row_number().over(order_by=order).label("position"),
            _typed(since, UTCDateTime).label("since"),
            _typed(due, sa.Integer).label("due"),
            maintain_column_froms=True,
        )
        .order_by(*order)
        .limit(size)
        .subquery()
    )
    return sa.select(listed)


def _typed(value, type_):
    # A list without the column gives a typed NULL: PostgreSQL cannot match an untyped one
    # across the UNION. SQLite's CAST would turn a date into a number, so values are only typed
    # for SQLAlchemy.
    return sa.cast(sa.null(), type_) if value is None else sa.type_coerce(value, type_)


def _sections(*sections, unpaid=None) -> tuple[dict[int, list], int, int]:
    """The repairs of every list, with their customer and technician, in one statement:
    (section -> [(repair, since, due)] in the list's order, how many repairs owe, how much).

    With ``unpaid`` (``unpaid_repairs``, which the unpaid list reads too), every row also
    carries the unpaid count and total; when no row comes back, nothing is listed as unpaid,
    so nothing is owed."""
    listed = sa.union_all(*sections).subquery("listed")
    columns = [listed.c.section, ServiceRequest, listed.c.since, listed.c.due]
    if unpaid is not None:
        columns += [
            sa.select(sa.func.count()).select_from(unpaid).scalar_subquery(),
            sa.select(sa.func.coalesce(sa.func.sum(unpaid.c.balance_due), 0)).scalar_subquery(),
        ]
    rows = db.session.execute(
        sa.select(*columns)
        .join(ServiceRequest, ServiceRequest.id == listed.c.rid)
        .options(
            sa.orm.joinedload(ServiceRequest.customer),
            sa.orm.joinedload(ServiceRequest.technician),
        )
        .order_by(listed.c.section, listed.c.position)
    ).all()
    found: dict[int, list] = {}
    for section, request, since, due, *_ in rows:
        found.setdefault(section, []).append((request, _aware(since), due))
    owed = (int(rows[0][4] or 0), int(rows[0][5] or 0)) if rows and unpaid is not None else (0, 0)
    return found, *owed


def waiting_section(user: User):
    """Repairs waiting on the shop (pending, awaiting parts, on hold), longest-waiting first,
    each with when it started waiting."""
    since = _status_since()
    stmt = sa.select(ServiceRequest).where(
        ServiceRequest.status.in_(WAITING_STATUSES), repairs.visible_to(user)
    )
    return _section(WAITING, stmt, [since, ServiceRequest.id], SECTION_SIZE, since=since)


def ready_section(user: User):
    """Repairs ready to collect, the ones waiting longest first."""
    stmt = sa.select(ServiceRequest).where(
        ServiceRequest.status == READY_STATUS, repairs.visible_to(user)
    )
    order = [ServiceRequest.ready_at.is_(None), ServiceRequest.ready_at, ServiceRequest.id]
    return _section(READY, stmt, order, SECTION_SIZE)


def overdue_section(user: User):
    """Open repairs past their estimated completion, the most overdue first."""
    stmt = sa.select(ServiceRequest).where(overdue_clause(), repairs.visible_to(user))
    order = [ServiceRequest.estimated_completion, ServiceRequest.id]
    return _section(OVERDUE, stmt, order, SECTION_SIZE)


def unpaid_repairs(user: User) -> sa.CTE:
    """(service_request_id, balance_due, created_at) of the repairs the person may see that owe
    money (billing's rule, aggregated in SQL), added up once for the list and its totals."""
    owing = balances.balances_due().subquery("owing")
    return (
        sa.select(owing.c.service_request_id, owing.c.balance_due, ServiceRequest.created_at)
        .join(ServiceRequest, owing.c.service_request_id == ServiceRequest.id)
        .where(repairs.visible_to(user))
        .cte("unpaid")
    )


def unpaid_section(unpaid: sa.CTE):
    """Repairs with a balance due, the oldest first."""
    order = [unpaid.c.created_at, unpaid.c.service_request_id]
    return _section(
        UNPAID,
        sa.select(unpaid),
        order,
        SECTION_SIZE,
        due=unpaid.c.balance_due,
        rid=unpaid.c.service_request_id,
    )


def queue_section(user: User):
    """A technician's open repairs, the soonest due first (undated last)."""
    stmt = sa.select(ServiceRequest).where(
        repairs.visible_to(user), ServiceRequest.status.not_in(workflow.FINAL_STATUSES)
    )
    order = [
        ServiceRequest.estimated_completion.is_(None),
        ServiceRequest.estimated_completion,
        ServiceRequest.id,
    ]
    return _section(QUEUE, stmt, order, QUEUE_SIZE)


def counts(user: User) -> dict:
    """Every count on the page but the unpaid ones in one statement: repairs by status and
    overdue (one pass over the repairs the person may see) and, for admins, payments to
    verify, low stock and unread messages."""
    repairs_row = (
        sa.select(
            *(
                sa.func.count(ServiceRequest.id)
                .filter(ServiceRequest.status == status)
                .label(status)
                for status in workflow.STATUSES
            ),
            sa.func.count(ServiceRequest.id).filter(overdue_clause()).label("overdue_count"),
        )
        .where(repairs.visible_to(user))
        .subquery("repairs_row")
    )
    # One-row tables side by side (joined on true) and single counts as columns.
    rows, columns = repairs_row, [repairs_row]
    if user.is_admin:
        payments_row = (
            sa.select(
                sa.func.count(Payment.id).label("pending_count"),
                sa.func.coalesce(sa.func.sum(Payment.amount), 0).label("pending_total"),
            )
            .where(Payment.status == PaymentStatus.PENDING, Payment.method.in_(OFFLINE_METHODS))
            .subquery("payments_row")
        )
        low_stock = inventory.low_stock_query().subquery()
        rows = rows.join(payments_row, sa.true())
        columns += [
            payments_row,
            sa.select(sa.func.count()).select_from(low_stock).scalar_subquery().label("low_stock"),
            messages.unread_for_staff_query().scalar_subquery().label("unread"),
        ]
    row = db.session.execute(sa.select(*columns).select_from(rows)).one()
    return {key: int(value or 0) for key, value in row._mapping.items()}


def dashboard_for(user: User) -> dict:
    """Everything the dashboard shows this person, in a fixed number of statements: the
    counts, the lists of repairs (with what is owed), today's appointments and (admins) the
    low-stock parts."""
    n = counts(user)
    unpaid = None
    if user.is_admin:
        unpaid = unpaid_repairs(user)
        sections = [waiting_section(user), ready_section(user), overdue_section(user)]
        sections.append(unpaid_section(unpaid))
    else:
        sections = [waiting_section(user), overdue_section(user), queue_section(user)]
    listed, unpaid_count, unpaid_total = _sections(*sections, unpaid=unpaid)
    figures = {
        "appointments": appointments_today(user),
        "waiting": [(r, since) for r, since, _ in listed.get(WAITING, [])],
        "waiting_counts": [(s, workflow.label(s), n[s]) for s in WAITING_STATUSES],
        "waiting_count": sum(n[s] for s in WAITING_STATUSES),
        "overdue": [r for r, _, _ in listed.get(OVERDUE, [])],
        "overdue_count": n["overdue_count"],
        "by_status": [(s, workflow.label(s), n[s]) for s in workflow.STATUSES],
    }
    figures["appointment_count"] = sum(len(g.appointments) for g in figures["appointments"])
    if user.is_admin:
        figures.update(
            ready=[r for r, _, _ in listed.get(READY, [])],
            ready_count=n[READY_STATUS],
            unpaid=[(r, int(due)) for r, _, due in listed.get(UNPAID, [])],
            unpaid_count=unpaid_count,
            unpaid_total=unpaid_total,
            queue=None,
            low_stock=inventory.low_stock_parts(limit=SECTION_SIZE),
            low_stock_count=n["low_stock"],
            pending_payments=(n["pending_count"], n["pending_total"]),
            unread_messages=n["unread"],
        )
    else:
        figures["queue"] = [r for r, _, _ in listed.get(QUEUE, [])]
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
    @reads_outside_transaction
    def index(self):
        return self.render(
            "admin/index.html", figures=dashboard_for(current_user), age=age, now=utcnow()
        )
