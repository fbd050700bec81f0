"""Appointments: the list, a day/week calendar, and add / reschedule / cancel through booking."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, flash, redirect, request
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user

from ..extensions import db
from ..models import APPOINTMENT_SCHEDULED, Appointment, ServiceRequest
from ..services import booking
from ..services.errors import ValidationFailed
from ..templating import local_time
from .base import SecuredModelView, commit_or_flash
from .filters import DateFromFilter, DateToFilter

STATUSES = ("scheduled", "canceled", "completed", "no_show")


def parse_local_datetime(value: str) -> datetime:
    """'2026-11-27T10:30' typed in the shop's time zone → aware UTC; raise ValidationFailed."""
    try:
        naive = datetime.strptime((value or "").strip(), "%Y-%m-%dT%H:%M")
    except ValueError as exc:
        raise ValidationFailed("Give the time as YYYY-MM-DDTHH:MM.") from exc
    tz = ZoneInfo(current_app.config["SHOP_TIMEZONE"])
    return naive.replace(tzinfo=tz).astimezone(ZoneInfo("UTC"))


class AppointmentView(SecuredModelView):
    """Booked drop-off slots; changes go through the booking service (no overbooking)."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    column_list = ("start", "status", "service_request", "customer", "technician", "cancel_reason")
    column_default_sort = ("start", False)
    column_sortable_list = ("start", "status")
    column_searchable_list = ("service_request.reference", "customer.full_name", "customer.email")
    column_formatters = {
        "start": lambda v, c, m, n: local_time(m.start),
        "service_request": lambda v, c, m, n: m.service_request.reference,
        "customer": lambda v, c, m, n: m.customer.full_name,
        "technician": lambda v, c, m, n: m.technician.full_name if m.technician else "—",
    }

    def __init__(self, **kwargs):
        self.column_filters = [
            FilterEqual(Appointment.status, "Status", options=[(s, s) for s in STATUSES]),
            DateFromFilter(Appointment.start, "Day"),
            DateToFilter(Appointment.start, "Day"),
        ]
        super().__init__(Appointment, **kwargs)

    @action("cancel", "Cancel")
    def action_cancel(self, ids):
        """Cancel the selected appointments with a reason (the customer is told)."""
        reason = request.form.get("reason")
        if reason is None:
            return self.render(
                "admin/appointments/cancel_form.html", ids=ids, selected=self.load(ids)
            )
        self.run_each(
            ids,
            "cancel",
            lambda a: booking.cancel(a, current_user, reason),
            "Canceled",
            label=lambda a: f"{a.service_request.reference} {local_time(a.start)}",
        )
        return None

    # -- calendar

    @expose("/calendar")
    def calendar(self):
        tz = ZoneInfo(current_app.config["SHOP_TIMEZONE"])
        try:
            first = date.fromisoformat(request.args.get("date", ""))
        except ValueError:
            first = datetime.now(tz).date()
        span = request.args.get("span", "week")
        if span == "week":
            first = first - timedelta(days=first.weekday())
            days = [first + timedelta(days=i) for i in range(7)]
        else:
            span, days = "day", [first]
        start = datetime.combine(days[0], time(0), tzinfo=tz)
        end = datetime.combine(days[-1] + timedelta(days=1), time(0), tzinfo=tz)
        rows = db.session.scalars(
            sa.select(Appointment)
            .where(Appointment.start >= start, Appointment.start < end)
            .options(
                sa.orm.joinedload(Appointment.service_request),
                sa.orm.joinedload(Appointment.customer),
            )
            .order_by(Appointment.start)
        ).all()
        by_day: dict[date, list[Appointment]] = {d: [] for d in days}
        for appt in rows:
            by_day.setdefault(appt.start.astimezone(tz).date(), []).append(appt)
        step = timedelta(days=7 if span == "week" else 1)
        return self.render(
            "admin/appointments/calendar.html",
            days=days,
            by_day=by_day,
            span=span,
            prev=(days[0] - step).isoformat(),
            next=(days[0] + step).isoformat(),
            first=days[0].isoformat(),
            scheduled=APPOINTMENT_SCHEDULED,
        )

    def _back(self):
        target = request.form.get("return_to") or ""
        if not target.startswith("/admin/"):  # only back into the back office (no open redirect)
            target = self.get_url(".calendar")
        return redirect(target)

    @expose("/add", methods=["POST"])
    def add(self):
        reference = (request.form.get("reference") or "").strip().upper()
        req = db.session.scalar(
            sa.select(ServiceRequest).where(ServiceRequest.reference == reference)
        )
        if req is None:
            flash(f"No repair with reference {reference!r}.", "error")
            return self._back()
        commit_or_flash(
            lambda: booking.book(
                req, parse_local_datetime(request.form.get("start", "")), current_user
            ),
            f"Appointment booked for {reference}.",
        )
        return self._back()

    @expose("/<int:appointment_id>/reschedule", methods=["POST"])
    def reschedule(self, appointment_id: int):
        appt = db.get_or_404(Appointment, appointment_id)
        commit_or_flash(
            lambda: booking.reschedule(
                appt, parse_local_datetime(request.form.get("start", "")), current_user
            ),
            "Appointment moved.",
        )
        return self._back()

    @expose("/<int:appointment_id>/cancel", methods=["POST"])
    def cancel(self, appointment_id: int):
        appt = db.get_or_404(Appointment, appointment_id)
        commit_or_flash(
            lambda: booking.cancel(appt, current_user, request.form.get("reason")),
            "Appointment canceled.",
        )
        return self._back()
