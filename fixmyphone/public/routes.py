"""Customer pages: home, tracking (by login, private link or reference), quotes, messages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    send_file,
    url_for,
)
from flask_login import current_user, login_required

from ..database import reads_outside_transaction
from ..domain_errors import DomainError
from ..extensions import db, limiter
from ..models import (
    Invoice,
    OpeningHours,
    Payment,
    PaymentStatus,
    RepairStatus,
    ServiceRequest,
    User,
)
from ..services import booking, documents, drop_off, messages, photos, repairs, tracking
from ..services.billing import approvals, issuing
from ..services.next_steps import next_steps
from . import bp, repair_page
from .forms import CancelAppointmentForm, MessageForm, QuoteDecisionForm, TrackForm
from .helpers import apply_errors

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NOT_FOUND = (
    "We could not find a repair with that reference and contact. "
    "Check both and try again, or call the shop."
)
SERVICES = (
    ("Screens", "Cracked glass, dead pixels, touch that stopped working."),
    ("Batteries", "Phones that die by lunchtime or swell and get hot."),
    ("Charging ports", "Loose cables, slow charging, no charging at all."),
    ("Water damage", "Cleaning and board repair after a swim."),
    ("Cameras & speakers", "Blurry photos, crackling calls, quiet microphones."),
    ("Tablets, watches & laptops", "The same care for the rest of your devices."),
)


def _track_limit() -> str:
    return current_app.config["TRACK_RATE_LIMIT"]


def opening_hours() -> list[tuple[str, object]]:
    """(weekday name, OpeningHours or None) for Monday to Sunday."""
    hours = {h.weekday: h for h in db.session.scalars(sa.select(OpeningHours))}
    return [(name, hours.get(i)) for i, name in enumerate(WEEKDAYS)]


@bp.get("/")
@reads_outside_transaction
def index():
    """Home: what we repair, opening hours, book and track."""
    return render_template(
        "public/index.html", hours=opening_hours(), services=SERVICES, track_form=TrackForm()
    )


@bp.route("/track", methods=["GET", "POST"])
@limiter.limit(_track_limit, methods=["POST"])
def track():
    """Find a repair by reference plus email or phone; the same answer for every miss."""
    form = TrackForm()
    status = 200
    if form.validate_on_submit():
        found = tracking.find_by_reference(form.reference.data, form.contact.data)
        if found is not None:
            return redirect(url_for("public.track_token", token=found.tracking_token))
        form.reference.errors = [NOT_FOUND]
        status = 404
    elif form.is_submitted():
        status = 422
    return render_template("public/track_form.html", form=form), status


def _by_token(token: str) -> ServiceRequest:
    found = tracking.find_by_token(token)
    if found is None:
        abort(404)
    return found


def _render_repair(service_request: ServiceRequest, *, via_token: bool, status: int = 200, **forms):
    if via_token:
        actions = {
            "quote": url_for("public.token_quote", token=service_request.tracking_token),
            "message": url_for("public.token_message", token=service_request.tracking_token),
        }
    else:
        actions = {
            "quote": url_for("public.repair_quote", request_id=service_request.id),
            "message": url_for("public.repair_message", request_id=service_request.id),
        }
    can_see_photos = current_user.is_authenticated and repairs.can_view(
        current_user, service_request
    )
    page = repair_page.read(service_request, photos=can_see_photos)
    html = render_template(
        "public/repair.html",
        r=service_request,
        via_token=via_token,
        timeline=page.timeline,
        summary=page.summary,
        # A booking deposit, when the shop takes them and nothing is invoiced yet.
        deposit=page.deposit,
        appointment=page.appointment,
        drop_off=drop_off.drop_off_actions(service_request, page.appointment),
        deadline=booking.change_deadline(page.appointment),
        cutoff_text=booking.cutoff_text(),
        steps=next_steps(service_request, page.summary.balance, page.appointment),
        estimate=page.estimate,
        thread=page.thread,
        actions=actions,
        can_see_photos=can_see_photos,
        is_owner=current_user.is_authenticated and current_user.id == service_request.customer_id,
        quote_form=forms.get("quote_form") or QuoteDecisionForm(),
        message_form=forms.get("message_form") or MessageForm(),
        cancel_form=CancelAppointmentForm(),
    )
    # Whoever holds the private link acts as the repair's customer. Their unread messages are
    # read once rendered (the page still marks them new); committing earlier would expire it all.
    reader_is_customer = via_token or current_user.id == service_request.customer_id
    unread = any(message.read_by_customer_at is None for message in page.thread)
    if reader_is_customer and unread:
        messages.mark_read(service_request, service_request.customer)
        db.session.commit()
    return html, status


@bp.get("/track/<token>")
@reads_outside_transaction
def track_token(token: str):
    """The private tracking link (no login needed)."""
    return _render_repair(_by_token(token), via_token=True)


@bp.get("/account/repairs/<int:request_id>")
@login_required
@reads_outside_transaction
def repair(request_id: int):
    """One of the customer's repairs (another customer's answers 404)."""
    return _render_repair(repairs.get_for(current_user, request_id), via_token=False)


def _decide(service_request: ServiceRequest, actor: User, *, via_token: bool):
    form = QuoteDecisionForm()
    if not form.validate_on_submit():
        return _render_repair(service_request, via_token=via_token, status=422, quote_form=form)
    approve = form.decision.data == "approve"
    try:
        approvals.decide_estimate(
            service_request, approve=approve, actor=actor, version=form.version_number
        )
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return _render_repair(service_request, via_token=via_token, status=exc.status)
    db.session.commit()
    if approve:
        flash("Thank you: the estimate is approved and we are going on with the repair.", "success")
    elif service_request.status == RepairStatus.CANCELED:
        flash("The estimate is declined. Your device is ready to be collected.", "info")
    else:
        flash("The revised estimate is declined: we go on as you approved before.", "info")
    return redirect(_back(service_request, via_token))


def _back(service_request: ServiceRequest, via_token: bool) -> str:
    if via_token:
        return url_for("public.track_token", token=service_request.tracking_token)
    return url_for("public.repair", request_id=service_request.id)


@bp.get("/track/<token>/invoice/<int:invoice_id>.pdf")
def token_invoice_pdf(token: str, invoice_id: int):
    """An invoice or credit note of the repair, for whoever holds its private link."""
    service_request = _by_token(token)
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or not issuing.is_document_of(invoice, service_request):
        abort(404)
    return _pdf(documents.render_invoice(invoice.id), f"{invoice.number}.pdf")


@bp.get("/track/<token>/receipt/<int:payment_id>.pdf")
def token_receipt_pdf(token: str, payment_id: int):
    """The receipt of a payment for the repair, for whoever holds its private link."""
    service_request = _by_token(token)
    payment = db.session.get(Payment, payment_id)
    if (
        payment is None
        or payment.service_request_id != service_request.id
        or payment.status != PaymentStatus.SUCCEEDED
    ):
        abort(404)
    return _pdf(documents.render_receipt(payment.id), f"{documents.receipt_number(payment)}.pdf")


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@bp.post("/track/<token>/quote")
def token_quote(token: str):
    """Approve or decline a quote through the private link."""
    service_request = _by_token(token)
    return _decide(service_request, service_request.customer, via_token=True)


@bp.post("/account/repairs/<int:request_id>/quote")
@login_required
def repair_quote(request_id: int):
    """Approve or decline a quote from the account."""
    return _decide(repairs.get_for(current_user, request_id), current_user, via_token=False)


def _post_message(service_request: ServiceRequest, sender: User, *, via_token: bool):
    form = MessageForm()
    if form.validate_on_submit():
        try:
            messages.post_message(service_request, sender, form.body.data)
        except DomainError as exc:
            db.session.rollback()
            if not apply_errors(form, exc):
                flash(exc.message, "error")
        else:
            db.session.commit()
            flash("Message sent. We usually answer within a working day.", "success")
            return redirect(_back(service_request, via_token) + "#messages")
    return _render_repair(service_request, via_token=via_token, status=422, message_form=form)


@bp.post("/track/<token>/messages")
@limiter.limit("30 per hour")
def token_message(token: str):
    """Write to the shop through the private link."""
    service_request = _by_token(token)
    return _post_message(service_request, service_request.customer, via_token=True)


@bp.post("/account/repairs/<int:request_id>/messages")
@login_required
def repair_message(request_id: int):
    """Write to the shop about one repair."""
    return _post_message(repairs.get_for(current_user, request_id), current_user, via_token=False)


@bp.get("/photos/<int:photo_id>")
@login_required
def photo(photo_id: int):
    """A damage photo, for the repair's customer and staff only."""
    found = photos.photo_for(current_user, photo_id)
    response = send_file(
        photos.file_path(found),
        mimetype=found.content_type,
        download_name=found.original_name,
        max_age=0,
    )
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    return response
