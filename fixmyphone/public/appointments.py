"""Booking, moving and canceling a drop-off appointment from real availability."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from flask import current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..domain_errors import DomainError
from ..extensions import db
from ..models import ServiceRequest, utcnow
from ..services import booking, drop_off, repairs, slots
from . import bp
from .forms import BookingForm, CancelAppointmentForm

DAYS_PER_PAGE = 7


def _days_ahead() -> int:
    """How far ahead customers may book: the shop's horizon, capped by PUBLIC_BOOKING_DAYS."""
    horizon = slots.settings().booking_horizon_days or 30
    return max(1, min(horizon, current_app.config["PUBLIC_BOOKING_DAYS"]))


def free_days(first: date, days: int) -> list[tuple[date, list[slots.Slot]]]:
    """Each day from ``first`` with the slots that can still be booked (past and full left out)."""
    now = utcnow()
    return [
        (day, [slot for slot in day_slots if slots.is_bookable(slot, now)])
        for day, day_slots in slots.slots_for_range(first, days, now).items()
    ]


def _page_start(today: date, last: date) -> date:
    try:
        wanted = date.fromisoformat(request.args.get("from", ""))
    except ValueError:
        return today
    return min(max(wanted, today), last)


def _render(service_request: ServiceRequest, form: BookingForm, status: int = 200):
    today = slots.shop_today()
    last = today + timedelta(days=_days_ahead() - 1)
    first = _page_start(today, last)
    count = min(DAYS_PER_PAGE, (last - first).days + 1)
    appointment = drop_off.drop_off_appointment(service_request)
    actions = drop_off.drop_off_actions(service_request, appointment)
    deadline = booking.change_deadline(appointment)
    previous_page = first - timedelta(days=DAYS_PER_PAGE) if first > today else None
    next_first = first + timedelta(days=count)
    return (
        render_template(
            "public/book.html",
            r=service_request,
            form=form,
            # Slots only where booking or moving is open (else the page says why not).
            days=free_days(first, count) if actions.can_book or actions.can_change else [],
            appointment=appointment,
            drop_off=actions,
            deadline=deadline,
            too_late=deadline is not None and utcnow() >= deadline,
            cutoff_text=booking.cutoff_text(),
            previous_page=max(previous_page, today) if previous_page else None,
            next_page=next_first if next_first <= last else None,
            chosen=form.start.data,
            cancel_form=CancelAppointmentForm(),
        ),
        status,
    )


def _parse_start(value: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value or "")
    except ValueError:
        return None
    return moment if moment.tzinfo is not None else None


@bp.route("/account/repairs/<int:request_id>/book", methods=["GET", "POST"])
@login_required
def book(request_id: int):
    """Pick a free slot (or move the current appointment to another one)."""
    service_request = repairs.get_for(current_user, request_id)
    form = BookingForm()
    if not form.validate_on_submit():
        return _render(service_request, form, 422 if form.is_submitted() else 200)
    start = _parse_start(form.start.data)
    if start is None:
        form.start.errors = ["Choose one of the free times below."]
        return _render(service_request, form, 422)
    appointment = drop_off.active_appointment(service_request)
    try:
        if appointment is None:
            appointment = booking.book(service_request, start, current_user)
        else:
            appointment = booking.reschedule(appointment, start, current_user)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        form.start.errors = [exc.message]
        return _render(service_request, form, exc.status)
    local = appointment.start.astimezone(slots.shop_tz()).strftime("%A %d %B at %H:%M")
    flash(f"You are booked in for {local}. See you then!", "success")
    return redirect(url_for("public.repair", request_id=service_request.id))


@bp.post("/account/repairs/<int:request_id>/appointment/cancel")
@login_required
def cancel_appointment(request_id: int):
    """Cancel the drop-off appointment (up to the cut-off before it)."""
    service_request = repairs.get_for(current_user, request_id)
    appointment = drop_off.active_appointment(service_request)
    form = CancelAppointmentForm()
    if appointment is None:
        flash("This repair has no appointment to cancel.", "error")
        return redirect(url_for("public.repair", request_id=service_request.id))
    if not form.validate_on_submit():
        flash("Your reason is too long (300 characters at most).", "error")
        return redirect(url_for("public.book", request_id=service_request.id))
    try:
        booking.cancel(appointment, current_user, form.reason.data)
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("public.repair", request_id=service_request.id))
    flash("Your appointment is canceled. Book a new time whenever you like.", "info")
    return redirect(url_for("public.repair", request_id=service_request.id))
