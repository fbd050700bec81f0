"""Appointments: the list, a day/week calendar (FullCalendar) and the small endpoints behind it.

Every booking, move and cancellation goes through the booking service, from the calendar's
JSON calls (drag, click on an empty slot, the move and cancel dialogs) and from plain forms
alike, so capacity, the seat constraint and the drop-off rules hold whichever way staff work.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, jsonify, redirect, request, url_for
from flask_admin import expose
from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual
from flask_login import current_user
from markupsafe import Markup

from ..database import reads_outside_transaction
from ..domain_errors import DomainError, NotFound, ValidationFailed
from ..errors import error_response
from ..extensions import db
from ..formatting import local_time
from ..labels import APPOINTMENT_STATE, label, options
from ..models import (
    Appointment,
    AppointmentStatus,
    ServiceRequest,
)
from ..services import booking, drop_off, repairs, search, slots
from .base import SecuredModelView, commit_or_flash, refusal_text
from .calendar_input import (
    colour,
    json_body,
    opening_hours,
    parse_start,
    parse_technician,
    row_id,
    technician_choices,
)
from .filters import DateFromFilter, DateToFilter

# The longest range the calendar may ask for at once (a week view asks for 7 days).
MAX_RANGE = timedelta(days=42)


def status_label(status: str) -> str:
    """An appointment state in words."""
    return label(APPOINTMENT_STATE, status)


class AppointmentView(SecuredModelView):
    """Booked drop-off slots; changes go through the booking service (no overbooking)."""

    can_create = False
    can_edit = False
    can_delete = False
    can_view_details = False
    list_template = "admin/appointments/list.html"
    column_display_actions = False
    column_list = ("start", "status", "service_request", "customer", "technician", "cancel_reason")
    column_labels = {"service_request": "Repair", "cancel_reason": "Why canceled"}
    column_default_sort = ("start", False)
    column_sortable_list = ("start", "status")
    column_searchable_list = ("service_request.reference", "customer.full_name", "customer.email")
    column_formatters = {
        "start": lambda v, c, m, n: local_time(m.start),
        "status": lambda v, c, m, n: status_label(m.status),
        "service_request": lambda v, c, m, n: _repair_link(m),
        "customer": lambda v, c, m, n: m.customer.full_name,
        "technician": lambda v, c, m, n: m.technician.full_name if m.technician else "—",
    }

    def search_placeholder(self) -> str:
        return "Repair reference, customer name or email"

    def __init__(self, **kwargs):
        self.column_filters = [
            FilterEqual(Appointment.status, "Status", options=options(APPOINTMENT_STATE)),
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

    # -- lookups, scoped like the list

    def _appointment(self, appointment_id: int) -> Appointment:
        found = self.get_query().filter(Appointment.id == appointment_id).first()
        if found is None:
            raise NotFound("No such appointment.")
        return found

    def _repair(self, data) -> ServiceRequest:
        """The repair named by id or reference, among those this user may see."""
        stmt = sa.select(ServiceRequest).where(repairs.visible_to(current_user))
        raw_id = row_id(data.get("service_request_id"))
        reference = str(data.get("reference") or "").strip().upper()
        if raw_id is not None:
            stmt = stmt.where(ServiceRequest.id == raw_id)
        elif reference:
            stmt = stmt.where(ServiceRequest.reference == reference[:12])
        else:
            raise ValidationFailed("Choose the repair to book.", {"reference": ["Required."]})
        found = db.session.scalar(stmt)
        if found is None:
            raise ValidationFailed(
                f"No repair with reference {reference or raw_id}.",
                {"reference": ["No such repair."]},
            )
        return found

    # -- the calendar page and its data

    @expose("/calendar")
    @reads_outside_transaction
    def calendar(self):
        tz = slots.shop_tz()
        try:
            first = date.fromisoformat(request.args.get("date", ""))
        except ValueError:
            first = datetime.now(tz).date()
        span = "day" if request.args.get("span") == "day" else "week"
        technicians = technician_choices()
        config = {
            "timeZone": current_app.config["SHOP_TIMEZONE"],
            "date": first.isoformat(),
            "view": "timeGridDay" if span == "day" else "timeGridWeek",
            "slotMinutes": slots.settings().slot_minutes or 30,
            **opening_hours(),
            "urls": {
                "events": self.get_url(".events"),
                "repairs": self.get_url(".bookable_repairs"),
                "add": self.get_url(".add"),
                "move": self.get_url(".reschedule", appointment_id=0),
                "cancel": self.get_url(".cancel", appointment_id=0),
            },
        }
        return self.render(
            "admin/appointments/calendar.html",
            calendar=config,
            technicians=[(t, colour(i)) for i, t in enumerate(technicians)],
            slot_seconds=config["slotMinutes"] * 60,
            list_url=self.get_url(".index_view"),
        )

    @expose("/events")
    @reads_outside_transaction
    def events(self):
        """The appointments between ?start and ?end (ISO), as FullCalendar events."""
        try:
            start = parse_start(request.args.get("start"))
            end = parse_start(request.args.get("end"))
        except ValidationFailed:
            return error_response(422, "Give start and end as ISO 8601 date-times.")
        if not start < end <= start + MAX_RANGE:
            return error_response(422, "Ask for at most 42 days at once.")
        colours = {t.id: colour(i) for i, t in enumerate(technician_choices())}
        query = (
            self.get_query()
            .filter(Appointment.start < end, Appointment.end > start)
            .options(
                sa.orm.joinedload(Appointment.service_request),
                sa.orm.joinedload(Appointment.customer),
                sa.orm.joinedload(Appointment.technician),
            )
            .order_by(Appointment.start, Appointment.id)
        )
        if request.args.get("canceled") != "1":
            query = query.filter(Appointment.status != AppointmentStatus.CANCELED)
        who = request.args.get("technician", "")
        if who == "none":
            query = query.filter(Appointment.technician_id.is_(None))
        elif (technician_id := row_id(who)) is not None:
            query = query.filter(Appointment.technician_id == technician_id)
        return jsonify([self._event(a, colours) for a in query])

    def _event(self, appt: Appointment, colours: dict[int, str]) -> dict:
        tz = slots.shop_tz()
        req = appt.service_request
        actions = drop_off.drop_off_actions(req, appt)
        local_start, local_end = appt.start.astimezone(tz), appt.end.astimezone(tz)
        colour = colours.get(appt.technician_id, "none") if appt.technician_id else "none"
        title = f"{req.reference} · {appt.customer.full_name}"
        if appt.status == AppointmentStatus.CANCELED:
            title = f"Canceled: {title}"
        return {
            "id": str(appt.id),
            "title": title,
            "start": local_start.isoformat(),
            "end": local_end.isoformat(),
            "url": url_for("admin_requests.request_page", request_id=req.id),
            "className": f"fmp-tech-{colour} fmp-appt-{appt.status}",
            "startEditable": actions.can_change,
            "durationEditable": False,
            "extendedProps": {
                "reference": req.reference,
                "customer": appt.customer.full_name,
                "technicianId": appt.technician_id,
                "technician": appt.technician.full_name if appt.technician else "",
                "status": appt.status,
                "statusLabel": status_label(appt.status),
                "cancelReason": appt.cancel_reason or "",
                "when": f"{local_start:%a %d %b, %H:%M}–{local_end:%H:%M}",
                "local": f"{local_start:%Y-%m-%dT%H:%M}",
                "canChange": actions.can_change,
                "refusal": actions.refusal if appt.status != AppointmentStatus.CANCELED else None,
                "moveUrl": self.get_url(".reschedule", appointment_id=appt.id),
                "cancelUrl": self.get_url(".cancel", appointment_id=appt.id),
            },
        }

    @expose("/repairs")
    def bookable_repairs(self):
        """Repairs that can be booked in, matching ?q (reference or customer), for the picker."""
        words = (request.args.get("q") or "").split()[:4]
        stmt = (
            sa.select(ServiceRequest)
            .where(repairs.visible_to(current_user), drop_off.bookable_clause())
            .options(sa.orm.joinedload(ServiceRequest.customer))
            .order_by(ServiceRequest.created_at.desc())
            .limit(20)
        )
        for word in words:
            clause = search.matches(word)
            if clause is not None:
                stmt = stmt.where(clause)
        return jsonify(
            [
                {
                    "id": r.id,
                    "reference": r.reference,
                    "label": f"{r.reference} · {r.customer.full_name} · {r.brand} {r.model}",
                    "technicianId": r.technician_id,
                }
                for r in db.session.scalars(stmt)
            ]
        )

    # -- changes: JSON from the calendar, or a plain form (then back to the page)

    def _change(self, fn, success: str, created: bool = False):
        if request.is_json:
            try:
                appointment = fn(json_body())
                db.session.commit()
            except DomainError as exc:
                db.session.rollback()
                return error_response(
                    exc.status, refusal_text(exc), code=exc.code, fields=exc.fields
                )
            colours = {t.id: colour(i) for i, t in enumerate(technician_choices())}
            body = {"message": success, "event": self._event(appointment, colours)}
            return jsonify(body), 201 if created else 200
        commit_or_flash(lambda: fn(request.form), success)
        return self._back()

    def _back(self):
        target = request.form.get("return_to") or ""
        # Only back into the back office (no open redirect).
        if not target.startswith("/admin/") or target.startswith("//"):
            target = self.get_url(".calendar")
        return redirect(target)

    @expose("/add", methods=["POST"])
    def add(self):
        """Book a repair into a slot (optionally with the technician who takes it in)."""

        def book(data):
            return booking.book(
                self._repair(data),
                parse_start(data.get("start")),
                current_user,
                technician=parse_technician(data.get("technician_id")),
            )

        return self._change(book, "Appointment booked.", created=True)

    @expose("/<int:appointment_id>/reschedule", methods=["POST"])
    def reschedule(self, appointment_id: int):
        """Move an appointment to another slot and/or technician."""

        def move(data):
            appt = self._appointment(appointment_id)
            technician = (
                parse_technician(data.get("technician_id"))
                if "technician_id" in data
                else booking.KEEP
            )
            return booking.reschedule(
                appt, parse_start(data.get("start")), current_user, technician=technician
            )

        return self._change(move, "Appointment moved.")

    @expose("/<int:appointment_id>/cancel", methods=["POST"])
    def cancel(self, appointment_id: int):
        """Cancel an appointment; the reason is required and sent to the customer."""

        def cancel(data):
            reason = str(data.get("reason") or "").strip()
            if not reason:
                raise ValidationFailed(
                    "Say why the appointment is canceled (the customer is told).",
                    {"reason": ["Required."]},
                )
            if len(reason) > 300:
                raise ValidationFailed(
                    "Keep the reason under 300 characters.", {"reason": ["Too long."]}
                )
            return booking.cancel(self._appointment(appointment_id), current_user, reason)

        return self._change(cancel, "Appointment canceled.")


def _repair_link(appointment: Appointment):
    url = url_for("admin_requests.request_page", request_id=appointment.service_request_id)
    return Markup('<a href="{}">{}</a>').format(url, appointment.service_request.reference)
