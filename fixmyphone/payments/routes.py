"""Pay online, come back from Checkout, download PDFs, manage saved cards, Stripe's webhook."""

from __future__ import annotations

import logging

import sqlalchemy as sa
import stripe
from flask import (
    Response,
    abort,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required

from ..domain_errors import DomainError
from ..errors import error_response
from ..extensions import csrf, db
from ..models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentPurpose,
    PaymentStatus,
    ServiceRequest,
    StripeEventStatus,
)
from ..queue import enqueue_after_commit
from ..security import safe_next
from ..services import documents, repairs
from ..services.billing import balances, cards, stripe_gateway, totals, webhooks
from . import bp

log = logging.getLogger(__name__)


def _own_request(request_id: int) -> ServiceRequest:
    """A request the logged-in user may see (their own, or any for staff); else 404."""
    return repairs.get_for(current_user, request_id)


def _back_to(service_request: ServiceRequest) -> str:
    return safe_next(url_for("public.track_token", token=service_request.tracking_token))


@bp.route("/pay/<int:request_id>", methods=["GET", "POST"])
@login_required
def checkout(request_id: int):
    """Send the customer to Stripe Checkout for the balance (or the booking deposit)."""
    service_request = _own_request(request_id)
    if service_request.customer_id != current_user.id:
        abort(404)
    if request.method == "GET":
        # Landing here after logging in from a pay button: show the repair, pay from there.
        return redirect(_back_to(service_request))
    if not stripe_gateway.stripe_enabled():
        flash(stripe_gateway.OnlinePaymentsOff().message, "info")
        return redirect(_back_to(service_request))
    purpose = request.form.get("purpose") or PaymentPurpose.BALANCE
    try:
        url = stripe_gateway.start_checkout(service_request, current_user, purpose=purpose)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(_back_to(service_request))
    db.session.commit()
    return redirect(url, code=303)


@bp.get("/pay/<int:request_id>/return")
@login_required
def checkout_return(request_id: int):
    """Back from Checkout: show the payment as Stripe's webhook reports it (never trust the URL)."""
    service_request = _own_request(request_id)
    canceled = request.args.get("canceled") == "1"
    payment = stripe_gateway.latest_online_payment(service_request, request.args.get("session_id"))
    return render_template(
        "payments/return.html",
        service_request=service_request,
        payment=payment,
        canceled=canceled,
        balance=balances.balance_due(service_request),
    )


@bp.get("/pay/<int:request_id>/status.json")
@login_required
def checkout_status(request_id: int):
    """The latest online payment's status, for the return page's small poller."""
    service_request = _own_request(request_id)
    payment = stripe_gateway.latest_online_payment(service_request, request.args.get("session_id"))
    return jsonify(
        request_id=service_request.id,
        payment_id=payment.id if payment else None,
        status=payment.status if payment else None,
        balance_due={
            "amount": balances.balance_due(service_request),
            "currency": totals.currency(),
        },
    )


@bp.get("/documents/invoice/<int:invoice_id>.pdf")
@login_required
def invoice_pdf(invoice_id: int):
    """An issued invoice or credit note as PDF, for its customer and staff only."""
    invoice = db.session.get(Invoice, invoice_id)
    if invoice is None or not documents.can_download_invoice(current_user, invoice):
        abort(404)
    return _pdf(documents.render_invoice(invoice.id), f"{invoice.number}.pdf")


@bp.get("/documents/receipt/<int:payment_id>.pdf")
@login_required
def receipt_pdf(payment_id: int):
    """The receipt of a succeeded payment as PDF, for its customer and staff only."""
    payment = db.session.get(Payment, payment_id)
    if payment is None or not documents.can_download_receipt(current_user, payment):
        abort(404)
    return _pdf(documents.render_receipt(payment.id), f"{documents.receipt_number(payment)}.pdf")


def _pdf(data: bytes, filename: str) -> Response:
    response = Response(data, mimetype="application/pdf")
    response.headers["Content-Disposition"] = f'inline; filename="{filename}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


@bp.get("/account/documents")
@login_required
def documents_list():
    """Every invoice, credit note and receipt of the logged-in customer."""
    invoices = db.session.scalars(
        sa.select(Invoice)
        .where(Invoice.customer_id == current_user.id, Invoice.status == InvoiceStatus.ISSUED)
        .order_by(Invoice.issued_at.desc())
    ).all()
    receipts = db.session.scalars(
        sa.select(Payment)
        .where(Payment.customer_id == current_user.id, Payment.status == PaymentStatus.SUCCEEDED)
        .order_by(Payment.succeeded_at.desc())
    ).all()
    return render_template("payments/documents.html", invoices=invoices, receipts=receipts)


@bp.route("/account/payment-methods", methods=["GET", "POST"])
@login_required
def payment_methods():
    """List, add (Stripe Checkout in setup mode) and remove saved cards."""
    if request.method == "POST":
        action = request.form.get("action")
        try:
            if action == "add":
                url = cards.start_card_setup(current_user)
                db.session.commit()
                return redirect(url, code=303)
            if action == "remove":
                cards.remove_saved_card(current_user, request.form.get("payment_method", ""))
                db.session.commit()
                flash("The card was removed.", "success")
            else:
                abort(400)
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
        return redirect(url_for("payments.payment_methods"))
    saved: list = []
    if request.args.get("saved") == "1":
        flash("Your card was saved with Stripe.", "success")
    try:
        saved = cards.list_saved_cards(current_user)
    except DomainError as exc:
        flash(exc.message, "error")
    db.session.commit()  # a Stripe customer id may have been stored
    return render_template(
        "payments/payment_methods.html", cards=saved, online=stripe_gateway.stripe_enabled()
    )


@bp.post("/webhooks/stripe")
@csrf.exempt
def stripe_webhook():
    """Stripe's webhook: verify the signature, store the event once, process it in a job."""
    secret = current_app.config.get("STRIPE_WEBHOOK_SECRET")
    if not secret:
        return error_response(503, "Stripe webhooks are not configured on this shop.")
    try:
        event = stripe.Webhook.construct_event(
            request.get_data(), request.headers.get("Stripe-Signature"), secret
        )
    except (ValueError, stripe.SignatureVerificationError) as exc:
        log.warning("rejected a Stripe webhook from %s: %s", request.remote_addr, exc)
        return error_response(400, "Invalid payload or signature.")
    row, new = webhooks.record_event(event)
    if row.status == StripeEventStatus.RECEIVED:
        # New, or seen before but its job was lost: processing is idempotent either way.
        enqueue_after_commit("fixmyphone.jobs.process_stripe_event", row.id)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()  # the same event, delivered twice at the same moment
        new = False
    return jsonify(received=True, duplicate=not new), 200
