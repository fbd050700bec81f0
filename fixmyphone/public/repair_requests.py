"""Requesting a repair, with log in or sign up in the same form for new visitors."""

from __future__ import annotations

from datetime import UTC

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user

from ..domain_errors import DomainError, ValidationFailed
from ..extensions import db, limiter
from ..models import User, utcnow
from ..services import accounts, drop_off, photos, repairs, slots
from ..services.billing.summaries import billing_summary
from ..services.next_steps import next_steps
from . import bp
from .forms import RepairRequestForm
from .helpers import apply_errors

# Service field names → the form's "Your details" fields in sign-up mode.
SIGNUP_ALIASES = {"email": "email", "password": "password", "full_name": "full_name"}


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _is_logged_in() -> bool:
    return current_user.is_authenticated


def _preferred_time(form: RepairRequestForm):
    """The preferred time as aware UTC (typed in shop time), or None; errors on the field."""
    naive = form.preferred_time.data
    if naive is None:
        return None
    moment = naive.replace(tzinfo=slots.shop_tz()).astimezone(UTC)
    if moment <= utcnow():
        form.preferred_time.errors.append("Choose a time in the future.")
        return False
    return moment


def _customer_for(form: RepairRequestForm) -> User | None:
    """The logged-in customer, or the account this POST logs into or creates (errors on form)."""
    if current_user.is_authenticated:
        return current_user._get_current_object()
    if form.account_mode.data == "login":
        user = accounts.authenticate(form.login_email.data, form.login_password.data)
        if user is None:
            form.login_password.errors.append(
                "Wrong email or password. Try again, or create an account instead."
            )
            return None
        if user.is_staff:
            form.login_email.errors.append("This is a staff account; use a customer account.")
            return None
        return user
    return accounts.create_user(
        email=form.email.data,
        password=form.password.data,
        full_name=form.full_name.data,
        phone=form.phone.data or None,
    )


@bp.route("/repair/new", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], exempt_when=_is_logged_in)
def request_repair():
    """The repair request form (anonymous visitors log in or sign up in the same POST)."""
    if current_user.is_authenticated and current_user.is_staff:
        flash("Staff open repairs for customers in the back office.", "info")
        return redirect(url_for("admin.index"))
    form = RepairRequestForm()
    if not form.is_submitted():
        return _form_page(form)

    valid = form.validate()
    if not current_user.is_authenticated:
        valid = form.validate_account() and valid
    uploads: list[photos.PhotoUpload] = []
    if valid:
        try:
            uploads = photos.check_uploads(request.files.getlist(form.photos.name))
        except ValidationFailed as exc:
            form.photos.errors = [exc.message]
            valid = False
    preferred = _preferred_time(form) if valid else None
    if preferred is False:
        valid = False
    if valid:
        stored: list = []
        anonymous = not current_user.is_authenticated
        try:
            customer = _customer_for(form)
            if customer is not None:
                service_request = repairs.create_service_request(
                    customer,
                    device_type=form.device_type.data,
                    brand=form.brand.data,
                    model=form.model.data,
                    imei=form.imei.data or None,
                    issue_description=form.issue_description.data,
                    preferred_time=preferred,
                )
                stored = [photos.store(service_request, u, customer) for u in uploads]
                db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            photos.discard_files(stored)
            if not apply_errors(form, exc, SIGNUP_ALIASES):
                flash(exc.message, "error")
            customer = None
        except Exception:
            db.session.rollback()
            photos.discard_files(stored)
            raise
        if customer is not None:
            if anonymous:
                session.clear()
                login_user(customer)
            return redirect(url_for("public.request_submitted", request_id=service_request.id))
        db.session.rollback()
    photos_lost = any(f.filename for f in request.files.getlist(form.photos.name))
    return _form_page(form, photos_lost=photos_lost), 422


def _form_page(form: RepairRequestForm, photos_lost: bool = False) -> str:
    return render_template(
        "public/request_form.html",
        form=form,
        photos_lost=photos_lost,
        max_photos=photos.max_photos(),
        max_photo_mb=photos.max_bytes() // (1024 * 1024),
    )


@bp.get("/account/repairs/<int:request_id>/submitted")
@login_required
def request_submitted(request_id: int):
    """Thanks: the reference, what happens next, and a link to book a drop-off slot."""
    service_request = repairs.get_for(current_user, request_id)
    summary = billing_summary(service_request)
    appointment = drop_off.drop_off_appointment(service_request)
    return render_template(
        "public/request_submitted.html",
        r=service_request,
        steps=next_steps(service_request, summary.balance, appointment),
        appointment=appointment,
    )
