"""Taking money: Stripe Checkout online, cash/terminal/transfer at the counter, refunds.

Card data never reaches this server: customers pay on Stripe's hosted Checkout page and the
payment is marked succeeded only by a verified webhook (see ``handle_event``), never by the
browser coming back from Checkout.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Optional

import sqlalchemy as sa
import stripe
from flask import current_app, has_request_context, url_for

from ..extensions import db
from ..formatting import format_money
from ..loading import Rows
from ..models import (
    ADMIN_ROLES,
    PAYMENT_CANCELED,
    PAYMENT_FAILED,
    PAYMENT_PENDING,
    PAYMENT_SUCCEEDED,
    Invoice,
    Payment,
    Refund,
    ServiceRequest,
    StripeEvent,
    User,
    utcnow,
)
from ..queue import enqueue_after_commit
from . import audit, notifications
from .billing import amounts, balances
from .errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed

log = logging.getLogger(__name__)

OFFLINE_METHODS = ("cash", "card_terminal", "bank_transfer")
METHOD_LABELS = {
    "stripe": "Card (online)",
    "cash": "Cash",
    "card_terminal": "Card terminal",
    "bank_transfer": "Bank transfer",
}
# A payment's states in words (the counter words a pending one as waiting for verification).
STATUS_LABELS = {
    "pending": "Pending",
    "succeeded": "Received",
    "failed": "Failed",
    "canceled": "Canceled",
    "needs_review": "Needs review",
}


def method_label(method: str) -> str:
    """How a payment was made, in words."""
    from ..labels import PAYMENT_METHOD, label

    return label(PAYMENT_METHOD, method)


def status_label(status: str) -> str:
    """A payment's state, in words."""
    from ..labels import PAYMENT_STATE, label

    return label(PAYMENT_STATE, status)


PURPOSES = ("balance", "deposit")
# Before the repair starts a deposit may be asked for; later the customer pays the balance.
DEPOSIT_STATUSES = ("pending", "scheduled")


class OnlinePaymentsOff(Conflict):
    """The shop has not connected a Stripe account: customers pay at pickup."""

    def __init__(
        self,
        message: str = "Online payment is not available at this shop; "
        "you can pay at pickup (cash or card).",
    ):
        super().__init__(message)


class PaymentProviderError(DomainError):
    """Stripe refused the request, failed or timed out; nothing was saved."""

    code = "payment_provider_error"
    status = 502


# ---------------------------------------------------------------- Stripe access


def stripe_enabled() -> bool:
    """True when the shop has configured its Stripe secret key."""
    return bool(current_app.config.get("STRIPE_SECRET_KEY"))


def stripe_client() -> stripe.StripeClient:
    """A client on the shop's key (and STRIPE_API_BASE, when tests or a proxy set one)."""
    cfg = current_app.config
    if not stripe_enabled():
        raise OnlinePaymentsOff()
    kwargs: dict = {}
    base = cfg.get("STRIPE_API_BASE")
    if base:
        kwargs["base_addresses"] = {"api": base}
    return stripe.StripeClient(
        cfg["STRIPE_SECRET_KEY"],
        max_network_retries=0 if base else 2,
        http_client=stripe.RequestsClient(timeout=float(cfg.get("STRIPE_TIMEOUT", 20))),
        **kwargs,
    )


def provider_failed(action: str, exc: Exception) -> PaymentProviderError:
    log.warning("stripe %s failed: %s: %s", action, type(exc).__name__, exc)
    return PaymentProviderError(
        "The payment provider could not be reached or refused the request; nothing was "
        "charged or saved. Please try again in a moment."
    )


def site_url(endpoint: str, **values) -> str:
    """An absolute link on the shop's public address (works in jobs, outside a request too)."""
    base = current_app.config["PUBLIC_BASE_URL"].rstrip("/")
    if has_request_context():
        return base + url_for(endpoint, **values)
    return base + current_app.url_map.bind("localhost").build(endpoint, values)


def deposit_amount() -> int:
    """The booking deposit in minor units (config DEPOSIT_AMOUNT; 0 = deposits off)."""
    return int(current_app.config.get("DEPOSIT_AMOUNT") or 0)


def currency() -> str:
    """The shop's currency code, lower case."""
    return current_app.config["SHOP_CURRENCY"].lower()


# ---------------------------------------------------------------- what is owed


def deposit_rows(request: ServiceRequest) -> Rows:
    """The request's deposits already paid, or recorded at the counter and waiting for
    verification, as a list to read (``loading.load_lists``): any of them means the deposit
    is taken."""
    return Rows(
        Payment,
        [
            Payment.service_request_id == request.id,
            Payment.purpose == "deposit",
            sa.or_(
                Payment.status == PAYMENT_SUCCEEDED,
                sa.and_(Payment.status == PAYMENT_PENDING, Payment.method != "stripe"),
            ),
        ],
    )


def _deposit_taken(request: ServiceRequest) -> bool:
    """A deposit already paid, or recorded at the counter and waiting for verification."""
    return db.session.scalar(deposit_rows(request).select().limit(1)) is not None


def deposit_due(
    request: ServiceRequest, *, invoiced: Optional[int] = None, taken: Optional[bool] = None
) -> int:
    """The booking deposit the customer can pay now; raise Conflict when none is due.
    ``invoiced`` (what the repair's invoices come to) and ``taken`` (a deposit already
    taken, ``deposit_rows``) are read here unless the caller has them."""
    amount = deposit_amount()
    if amount <= 0:
        raise Conflict("This shop does not take booking deposits.")
    if (
        request.status not in DEPOSIT_STATUSES
        or (balances.invoiced_total(request) if invoiced is None else invoiced) > 0
    ):
        raise Conflict(f"A deposit is only taken before the repair of {request.reference}.")
    if _deposit_taken(request) if taken is None else taken:
        raise Conflict(f"The deposit for {request.reference} has already been paid.")
    return amount


def amount_for(request: ServiceRequest, purpose: str) -> int:
    """What the customer pays now for ``purpose``; raise when there is nothing to pay."""
    if purpose == "balance":
        due = balances.balance_due(request)
        if due <= 0:
            raise Conflict(f"There is nothing to pay on {request.reference} right now.")
        return due
    if purpose == "deposit":
        return deposit_due(request)
    raise ValidationFailed("Unknown payment purpose.", fields={"purpose": ["balance or deposit"]})


def what_is_due(request: ServiceRequest) -> Optional[tuple[str, int]]:
    """(purpose, amount) the customer can pay now, or None: the balance, else a deposit."""
    for purpose in PURPOSES:
        try:
            return purpose, amount_for(request, purpose)
        except Conflict:
            continue
    return None


# ---------------------------------------------------------------- online checkout


def start_checkout(request: ServiceRequest, customer: User, *, purpose: str = "balance") -> str:
    """Open a Stripe Checkout Session for what is due and stage a pending Payment; return its URL.

    Raises ``OnlinePaymentsOff`` without Stripe keys and ``PaymentProviderError`` when Stripe
    fails or times out, with nothing staged in either case.
    """
    if not stripe_enabled():
        raise OnlinePaymentsOff()
    if request.customer_id != customer.id:
        raise NotFound("No such service request.")
    if request.status in ("canceled", "closed") and purpose == "deposit":
        raise Conflict(f"{request.reference} is {request.status}.")
    # One checkout at a time per repair: a double click waits here instead of opening two.
    db.session.scalar(
        sa.select(ServiceRequest.id).where(ServiceRequest.id == request.id).with_for_update()
    )
    amount = amount_for(request, purpose)
    client = stripe_client()
    _expire_open_checkouts(client, request)

    savepoint = db.session.begin_nested()
    payment = Payment(
        service_request=request,
        customer=customer,
        method="stripe",
        purpose=purpose,
        amount=amount,
        currency=currency(),
        status=PAYMENT_PENDING,
    )
    db.session.add(payment)
    db.session.flush()
    metadata = {"payment_id": str(payment.id), "request_id": str(request.id), "purpose": purpose}
    what = "Deposit" if purpose == "deposit" else "Repair"
    params: dict = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": payment.currency,
                    "unit_amount": amount,
                    "product_data": {
                        "name": f"{what} {request.reference}: {request.brand} {request.model}"
                    },
                },
            }
        ],
        "client_reference_id": str(request.id),
        "metadata": metadata,
        "payment_intent_data": {"metadata": metadata},
        # Stripe substitutes {CHECKOUT_SESSION_ID}; it must stay unescaped.
        "success_url": site_url("payments.checkout_return", request_id=request.id)
        + "?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": site_url("payments.checkout_return", request_id=request.id, canceled=1),
    }
    stripe_customer = customer.customer_profile and customer.customer_profile.stripe_customer_id
    if stripe_customer:
        params["customer"] = stripe_customer
    else:
        params["customer_email"] = customer.email
    try:
        session = client.v1.checkout.sessions.create(params=params)
    except stripe.StripeError as exc:
        savepoint.rollback()
        raise provider_failed("checkout", exc) from exc
    savepoint.commit()
    payment.stripe_checkout_session_id = session.id
    audit.record(
        customer,
        "checkout_started",
        payment,
        after={"amount": amount, "purpose": purpose, "session": session.id},
    )
    return session.url


def _expire_open_checkouts(client: stripe.StripeClient, request: ServiceRequest) -> None:
    """Close earlier unpaid Checkout Sessions so one repair is never paid twice."""
    open_payments = db.session.scalars(
        sa.select(Payment).where(
            Payment.service_request_id == request.id,
            Payment.method == "stripe",
            # A failed attempt leaves its session open for another try: close it too.
            Payment.status.in_((PAYMENT_PENDING, PAYMENT_FAILED)),
            Payment.stripe_checkout_session_id.is_not(None),
        )
    ).all()
    for payment in open_payments:
        try:
            client.v1.checkout.sessions.expire(payment.stripe_checkout_session_id)
        except stripe.InvalidRequestError:
            # Already expired, or already paid (then the webhook is on its way).
            try:
                session = client.v1.checkout.sessions.retrieve(payment.stripe_checkout_session_id)
            except stripe.StripeError as exc:
                raise provider_failed("checkout retrieve", exc) from exc
            if session.status == "complete":
                raise Conflict(
                    "Your earlier payment is being processed; refresh this page in a moment."
                ) from None
        except stripe.StripeError as exc:
            raise provider_failed("checkout expire", exc) from exc
        payment.status = PAYMENT_CANCELED
        payment.failure_reason = payment.failure_reason or "Replaced by a newer checkout."


def latest_online_payment(request: ServiceRequest, session_id: Optional[str] = None):
    """The newest Stripe payment of a request (or the one of ``session_id``)."""
    stmt = sa.select(Payment).where(
        Payment.service_request_id == request.id, Payment.method == "stripe"
    )
    if session_id:
        stmt = stmt.where(Payment.stripe_checkout_session_id == session_id)
    return db.session.scalar(stmt.order_by(Payment.id.desc()).limit(1))


# ---------------------------------------------------------------- state changes


def mark_succeeded(payment: Payment, actor: Optional[User] = None) -> bool:
    """Move a payment to succeeded (once), link it to the invoice and tell the customer."""
    if payment.status == PAYMENT_SUCCEEDED:
        return False
    before = {"status": payment.status}
    payment.status = PAYMENT_SUCCEEDED
    payment.succeeded_at = utcnow()
    payment.failure_reason = None
    if payment.invoice_id is None and payment.service_request_id is not None:
        payment.invoice_id = db.session.scalar(
            sa.select(Invoice.id)
            .where(
                Invoice.service_request_id == payment.service_request_id,
                Invoice.kind == "invoice",
                Invoice.status == "issued",
            )
            .order_by(Invoice.id.desc())
            .limit(1)
        )
    audit.record(actor, "payment_succeeded", payment, before=before, after={"status": "succeeded"})
    db.session.flush()
    request = payment.service_request
    if request is None or payment.customer is None:
        return True  # a walk-in sale: the buyer takes the receipt at the counter
    notifications.notify(
        payment.customer,
        "payment_received",
        dedup_key=f"payment_received:{payment.id}",
        service_request=request,
        context={"attachments": [{"kind": "receipt", "payment_id": payment.id}]},
        values={"payment": payment},
    )
    return True


def mark_failed(payment: Payment, reason: Optional[str], *, status: str = PAYMENT_FAILED) -> bool:
    """Record a failed or canceled attempt; a succeeded payment never moves back."""
    if payment.status == PAYMENT_SUCCEEDED or payment.status == status:
        return False
    if payment.status == PAYMENT_CANCELED and status == PAYMENT_FAILED:
        return False
    payment.status = status
    payment.failure_reason = (reason or None) and reason[:300]
    audit.record(None, f"payment_{status}", payment, after={"reason": payment.failure_reason})
    return True


# ---------------------------------------------------------------- at the counter


def record_offline_payment(
    request: Optional[ServiceRequest],
    *,
    amount: int,
    method: str,
    actor: User,
    reference: Optional[str] = None,
    purpose: str = "balance",
    invoice: Optional[Invoice] = None,
) -> Payment:
    """Staff record cash, card-terminal or bank-transfer money; it waits for an admin's check.

    The money is for a repair, or (``request`` None) for ``invoice``: a walk-in sale.
    """
    if actor is None or not actor.is_staff:
        raise Forbidden("Only staff record payments.")
    if request is None and invoice is None:
        raise ValidationFailed("Say what the payment is for: a repair or an invoice.")
    errors: dict[str, list[str]] = {}
    if method not in OFFLINE_METHODS:
        errors["method"] = [f"Choose one of: {', '.join(OFFLINE_METHODS)}."]
    if not amounts.is_amount(amount):
        errors["amount"] = ["Give a positive amount."]
    reference = (reference or "").strip() or None
    if reference and len(reference) > 100:
        errors["reference"] = ["At most 100 characters."]
    if purpose not in PURPOSES:
        errors["purpose"] = ["balance or deposit"]
    if errors:
        raise ValidationFailed("Some fields need attention.", fields=errors)
    payment = Payment(
        service_request=request,
        invoice_id=invoice.id if invoice is not None else None,
        customer_id=request.customer_id if request is not None else invoice.customer_id,
        method=method,
        purpose=purpose,
        amount=amount,
        currency=currency(),
        status=PAYMENT_PENDING,
        reference=reference,
        recorded_by=actor,
    )
    db.session.add(payment)
    db.session.flush()
    audit.record(
        actor,
        "payment_recorded",
        payment,
        after={"amount": amount, "method": method, "reference": reference},
    )
    admins = db.session.scalars(
        sa.select(User).where(User.role.in_(ADMIN_ROLES), User.active.is_(True))
    ).all()
    for admin in admins:
        notifications.notify(
            admin,
            "payment_to_verify",
            dedup_key=f"payment_to_verify:{payment.id}:{admin.id}",
            service_request=request,
            context={"payment_id": payment.id},
            channels=["in_app"],
            values={
                "payment": payment,
                "method": METHOD_LABELS[method],
                "recorded_by": actor,
                "invoice": invoice,
            },
        )
    return payment


def verify_payment(payment: Payment, actor: User) -> Payment:
    """An admin confirms a counter payment: it counts from now on (who and when recorded)."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin verifies payments.")
    if payment.method not in OFFLINE_METHODS:
        raise Conflict("Online payments are confirmed by Stripe, not by hand.")
    if payment.status != PAYMENT_PENDING:
        raise Conflict(f"This payment is already {payment.status}.")
    payment.verified_by = actor
    payment.verified_at = utcnow()
    mark_succeeded(payment, actor)
    return payment


def reject_payment(payment: Payment, actor: User, reason: str) -> Payment:
    """An admin refuses a counter payment that cannot be matched (wrong amount, no transfer)."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin rejects payments.")
    if payment.method not in OFFLINE_METHODS or payment.status != PAYMENT_PENDING:
        raise Conflict("Only a counter payment waiting for verification can be rejected.")
    if not (reason or "").strip():
        raise ValidationFailed("Say why the payment is rejected.", fields={"reason": ["Required."]})
    payment.verified_by = actor
    payment.verified_at = utcnow()
    mark_failed(payment, reason.strip())
    return payment


# ---------------------------------------------------------------- refunds


def refund(payment: Payment, *, amount: int, actor: User, reason: Optional[str] = None) -> Refund:
    """Give money back, fully or partly: Stripe through its API (confirmed by webhook),
    counter payments recorded at once. Never more than paid minus already refunded."""
    if actor is None or not actor.is_admin:
        raise Forbidden("Only an admin refunds payments.")
    if not amounts.is_amount(amount):
        raise ValidationFailed(
            "The refund must be a positive amount.", fields={"amount": ["Must be positive."]}
        )
    reason = (reason or "").strip() or None
    if reason and len(reason) > 300:
        raise ValidationFailed("The reason is too long.", fields={"reason": ["At most 300."]})
    # Lock the payment so two admins cannot both refund the same money.
    db.session.scalar(sa.select(Payment.id).where(Payment.id == payment.id).with_for_update())
    if payment.status != PAYMENT_SUCCEEDED:
        raise Conflict("Only a succeeded payment can be refunded.")
    available = balances.refundable_amount(payment)
    if amount > available:
        message = f"At most {format_money(available, payment.currency)} can still be refunded."
        raise ValidationFailed(message, fields={"amount": [message]})
    row = Refund(
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        reason=reason,
        actor_id=actor.id,
        status=PAYMENT_PENDING,
    )
    if payment.method == "stripe":
        _refund_online(payment, row)
    else:
        db.session.add(row)
        db.session.flush()
        confirm_refund(row)
    audit.record(
        actor,
        "refund_requested" if row.status == PAYMENT_PENDING else "refund_recorded",
        row,
        after={"payment_id": payment.id, "amount": amount, "reason": reason},
    )
    return row


def _refund_online(payment: Payment, row: Refund) -> None:
    from ..payments import jobs

    client = stripe_client()
    savepoint = db.session.begin_nested()
    db.session.add(row)
    db.session.flush()
    params: dict = {
        "amount": row.amount,
        "metadata": {"refund_id": str(row.id), "payment_id": str(payment.id)},
    }
    if payment.stripe_payment_intent_id:
        params["payment_intent"] = payment.stripe_payment_intent_id
    elif payment.stripe_charge_id:
        params["charge"] = payment.stripe_charge_id
    else:
        savepoint.rollback()
        raise Conflict("This payment has no Stripe payment reference; refund it in Stripe.")
    try:
        result = client.v1.refunds.create(params=params)
    except stripe.StripeError as exc:
        savepoint.rollback()
        raise provider_failed("refund", exc) from exc
    savepoint.commit()
    row.stripe_refund_id = result.id
    # A webhook that came before this row was committed waits as "deferred"; replay it.
    enqueue_after_commit(jobs.replay_deferred_events)


def confirm_refund(row: Refund) -> bool:
    """Mark a refund succeeded (once) and tell the customer."""
    if row.status == PAYMENT_SUCCEEDED:
        return False
    row.status = PAYMENT_SUCCEEDED
    db.session.flush()
    # Invoiced money given back is credited on the invoice (a credit note), so the balance
    # and the books stay right; refunding an overpayment needs none.
    from .billing.credit_notes import credit_for_refund

    credit_for_refund(row)
    payment = row.payment
    request = payment.service_request
    if request is None or payment.customer is None:
        return True  # a walk-in sale: the money is handed back at the counter
    notifications.notify(
        payment.customer,
        "refund_issued",
        dedup_key=f"refund_issued:{row.id}",
        service_request=request,
        values={"refund": row},
    )
    return True


def fail_refund(row: Refund, status: str = PAYMENT_FAILED) -> bool:
    """A pending refund Stripe could not carry out; a succeeded one never moves back."""
    if row.status != PAYMENT_PENDING:
        return False
    row.status = status
    audit.record(None, "refund_failed", row, after={"status": status})
    return True


# ---------------------------------------------------------------- webhooks


def record_event(event: stripe.Event) -> tuple[StripeEvent, bool]:
    """Store a verified event by id first; (row, True) when new, (existing row, False) if seen."""
    from ..payments.events import is_handled

    payload = event.to_dict()
    existing = db.session.get(StripeEvent, payload["id"])
    if existing is not None:
        return existing, False
    created = payload.get("created")
    row = StripeEvent(
        id=payload["id"],
        type=payload["type"],
        created=datetime.fromtimestamp(int(created), UTC) if created else None,
        payload=payload,
        status="received" if is_handled(payload["type"]) else "ignored",
    )
    if row.status == "ignored":
        row.processed_at = utcnow()
    db.session.add(row)
    return row, True


def handle_event(event_id: str) -> None:
    """Apply one stored Stripe event (the job body); idempotent and safe out of order."""
    from ..payments.events import apply_event

    row = db.session.scalar(
        sa.select(StripeEvent).where(StripeEvent.id == event_id).with_for_update()
    )
    if row is None or row.status not in ("received", "deferred"):
        return
    outcome = apply_event(row.type, (row.payload.get("data") or {}).get("object") or {})
    row.status = outcome
    if outcome != "deferred":
        row.processed_at = utcnow()
