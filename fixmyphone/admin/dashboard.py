"""The dashboard (admin index): today at a glance, each figure linking to its filtered list."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app
from flask_admin import expose
from flask_login import current_user

from .. import workflow
from ..extensions import db
from ..models import APPOINTMENT_SCHEDULED, Appointment, Payment, ServiceRequest
from ..services import inventory, messages
from .base import SecuredIndexView
from .filters import overdue_clause

OFFLINE_METHODS = ("cash", "card_terminal", "bank_transfer")


def today_bounds() -> tuple[datetime, datetime]:
    """Start and end of the shop-local today, as UTC."""
    tz = ZoneInfo(current_app.config["SHOP_TIMEZONE"])
    today = datetime.now(tz).date()
    start = datetime.combine(today, time(0), tzinfo=tz)
    return start.astimezone(ZoneInfo("UTC")), (start + timedelta(days=1)).astimezone(
        ZoneInfo("UTC")
    )


def dashboard_figures() -> dict:
    """Everything the admin dashboard shows, in a fixed number of queries."""
    start, end = today_bounds()
    appointments = db.session.scalars(
        sa.select(Appointment)
        .where(Appointment.start >= start, Appointment.start < end)
        .where(Appointment.status == APPOINTMENT_SCHEDULED)
        .options(
            sa.orm.joinedload(Appointment.service_request),
            sa.orm.joinedload(Appointment.customer),
        )
        .order_by(Appointment.start)
        .limit(50)
    ).all()
    by_status = dict(
        db.session.execute(
            sa.select(ServiceRequest.status, sa.func.count(ServiceRequest.id)).group_by(
                ServiceRequest.status
            )
        ).all()
    )
    overdue = db.session.scalars(
        sa.select(ServiceRequest)
        .where(overdue_clause())
        .options(sa.orm.joinedload(ServiceRequest.technician))
        .order_by(ServiceRequest.estimated_completion)
        .limit(10)
    ).all()
    overdue_count = db.session.scalar(
        sa.select(sa.func.count(ServiceRequest.id)).where(overdue_clause())
    )
    pending_payments = db.session.execute(
        sa.select(
            sa.func.count(Payment.id), sa.func.coalesce(sa.func.sum(Payment.amount), 0)
        ).where(Payment.status == "pending", Payment.method.in_(OFFLINE_METHODS))
    ).one()
    return {
        "appointments": appointments,
        "by_status": [(s, workflow.label(s), by_status.get(s, 0)) for s in workflow.STATUSES],
        "overdue": overdue,
        "overdue_count": int(overdue_count or 0),
        "low_stock": inventory.low_stock_parts(limit=10),
        "low_stock_count": db.session.scalar(
            sa.select(sa.func.count()).select_from(inventory.low_stock_query().subquery())
        ),
        "pending_payments": (int(pending_payments[0]), int(pending_payments[1])),
        "unread_messages": messages.unread_for_staff(),
    }


def technician_queue() -> list[ServiceRequest]:
    """The open repairs assigned to the logged-in technician."""
    return list(
        db.session.scalars(
            sa.select(ServiceRequest)
            .where(
                ServiceRequest.technician_id == current_user.id,
                ServiceRequest.status.not_in(workflow.FINAL_STATUSES),
            )
            .order_by(
                ServiceRequest.estimated_completion.is_(None), ServiceRequest.estimated_completion
            )
            .limit(100)
        )
    )


class DashboardView(SecuredIndexView):
    """Admins get the shop dashboard; technicians their queue."""

    @expose("/")
    def index(self):
        if current_user.is_admin:
            return self.render("admin/index.html", figures=dashboard_figures(), queue=None)
        return self.render("admin/index.html", figures=None, queue=technician_queue())
