"""The customer's account: open repairs, order history, profile and password."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user

from ..database import reads_outside_transaction
from ..domain_errors import DomainError
from ..extensions import db
from ..models import Message, ServiceRequest
from ..services import accounts, audit, drop_off, profiles
from ..services.billing import balances
from ..services.billing.summaries import billing_summaries
from ..services.next_steps import next_steps
from ..workflow import OPEN_STATUSES
from . import bp
from .forms import NOTIFICATION_CHANNELS, PasswordChangeForm, ProfileForm, pref_name
from .helpers import apply_errors

HISTORY_PAGE_SIZE = 20


def _unread_of(request_id) -> sa.ScalarSelect:
    """Shop messages of the request ``request_id`` names that the customer has not read."""
    return (
        sa.select(sa.func.count(Message.id))
        .where(
            Message.service_request_id == request_id,
            Message.is_internal.is_(False),
            Message.read_by_customer_at.is_(None),
        )
        .scalar_subquery()
    )


def _customer_only():
    if current_user.is_staff:
        return redirect(url_for("admin.index"))
    return None


@bp.get("/account")
@login_required
@reads_outside_transaction
def account():
    """The customer's open repairs with what to do next and unread messages."""
    if (staff := _customer_only()) is not None:
        return staff
    # Each open repair with its totals and unread messages, in one statement.
    invoiced, paid = balances.totals_of(ServiceRequest.id)
    rows = db.session.execute(
        sa.select(ServiceRequest, invoiced, paid, _unread_of(ServiceRequest.id))
        .where(
            ServiceRequest.customer_id == current_user.id,
            ServiceRequest.status.in_(OPEN_STATUSES),
        )
        .order_by(ServiceRequest.created_at.desc())
    ).all()
    open_requests = [r for r, *_ in rows]
    appointments = drop_off.active_appointments(open_requests)
    # An appointment left scheduled once the device is in the shop is no drop-off any more.
    upcoming = {
        r.id: appointments.get(r.id) if drop_off.drop_off_refusal(r) is None else None
        for r in open_requests
    }
    cards = [
        (r, upcoming[r.id], next_steps(r, int(invoiced or 0) - int(paid or 0), upcoming[r.id]))
        for r, invoiced, paid, _ in rows
    ]
    finished = db.session.scalar(
        sa.select(sa.func.count(ServiceRequest.id)).where(
            ServiceRequest.customer_id == current_user.id,
            ServiceRequest.status.not_in(OPEN_STATUSES),
        )
    )
    return render_template(
        "public/account.html",
        cards=cards,
        finished=finished,
        unread={r.id: unread for r, _, _, unread in rows if unread},
    )


@bp.get("/account/history")
@login_required
@reads_outside_transaction
def history():
    """Every repair with status, dates, totals, and the invoice and receipt PDFs."""
    if (staff := _customer_only()) is not None:
        return staff
    page = db.paginate(
        sa.select(ServiceRequest)
        .where(ServiceRequest.customer_id == current_user.id)
        .order_by(ServiceRequest.created_at.desc(), ServiceRequest.id.desc()),
        per_page=HISTORY_PAGE_SIZE,
        error_out=False,
    )
    summaries = billing_summaries(page.items)
    rows = [(r, summaries[r.id]) for r in page.items]
    return render_template("public/history.html", rows=rows, page=page)


def _fill_profile_form(form: ProfileForm) -> None:
    profile = profiles.profile_of(current_user)
    form.full_name.data = current_user.full_name
    for name in (
        "phone",
        "address_line1",
        "address_line2",
        "city",
        "postal_code",
        "country",
        "notify_email",
        "notify_sms",
        "notify_in_app",
    ):
        getattr(form, name).data = getattr(profile, name)
    prefs = profile.notification_prefs or {}
    for kind in profiles.NOTIFICATION_KINDS:
        for channel in NOTIFICATION_CHANNELS:
            getattr(form, pref_name(kind, channel)).data = prefs.get(kind, {}).get(channel, True)


def _render_profile(profile_form: ProfileForm, password_form: PasswordChangeForm, status=200):
    return render_template(
        "public/profile.html", form=profile_form, password_form=password_form
    ), status


@bp.route("/account/profile", methods=["GET", "POST"])
@login_required
def profile():
    """Name, phone, address and notification preferences."""
    if (staff := _customer_only()) is not None:
        return staff
    form = ProfileForm()
    if request.method == "GET":
        _fill_profile_form(form)
        return _render_profile(form, PasswordChangeForm())
    if form.validate_on_submit():
        try:
            profiles.update_profile(
                current_user,
                current_user,
                full_name=form.full_name.data,
                phone=form.phone.data,
                address_line1=form.address_line1.data,
                address_line2=form.address_line2.data,
                city=form.city.data,
                postal_code=form.postal_code.data,
                country=form.country.data,
                notify_email=form.notify_email.data,
                notify_sms=form.notify_sms.data,
                notify_in_app=form.notify_in_app.data,
            )
            profiles.update_notification_prefs(current_user, current_user, form.prefs_data())
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            if not apply_errors(form, exc):
                flash(exc.message, "error")
        else:
            flash("Your details are saved.", "success")
            return redirect(url_for("public.profile"))
    return _render_profile(form, PasswordChangeForm(), 422)


@bp.post("/account/password")
@login_required
def change_password():
    """Change the password (current one required); other sessions end, this one stays."""
    if (staff := _customer_only()) is not None:
        return staff
    form = PasswordChangeForm()
    if form.validate_on_submit():
        user = current_user._get_current_object()
        if not user.check_password(form.current_password.data):
            form.current_password.errors.append("That is not your current password.")
        else:
            accounts.set_password(user, form.new_password.data)
            accounts.revoke_refresh_tokens(user)
            audit.record(user, "password_changed", user)
            db.session.commit()
            # The session version changed: log this browser in again, the others are out.
            login_user(user)
            flash("Your password is changed. Other devices have been logged out.", "success")
            return redirect(url_for("public.profile"))
    profile_form = ProfileForm(formdata=None)
    _fill_profile_form(profile_form)
    return _render_profile(profile_form, form, 422)
