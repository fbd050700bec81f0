"""Stripe, the shop's online card payments: a client on the shop's key, Checkout Sessions for
what is due, and the refusals customers see when Stripe is not set up or fails.

Card data never reaches this server: customers pay on Stripe's hosted Checkout page, and the
payment counts only once Stripe's verified webhook says so (``webhooks``).
"""

from __future__ import annotations

import logging
from typing import Optional

import sqlalchemy as sa
import stripe
from flask import current_app, has_request_context, url_for

from ...domain_errors import Conflict, DomainError, NotFound
from ...extensions import db
from ...models import (
    Payment,
    PaymentMethod,
    PaymentPurpose,
    PaymentStatus,
    RepairStatus,
    ServiceRequest,
    User,
)
from .. import audit
from .payments import amount_for
from .totals import currency

log = logging.getLogger(__name__)


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


# ---------------------------------------------------------------- online checkout


def start_checkout(
    request: ServiceRequest, customer: User, *, purpose: str = PaymentPurpose.BALANCE
) -> str:
    """Open a Stripe Checkout Session for what is due and stage a pending Payment; return its URL.

    Raises ``OnlinePaymentsOff`` without Stripe keys and ``PaymentProviderError`` when Stripe
    fails or times out, with nothing staged in either case.
    """
    if not stripe_enabled():
        raise OnlinePaymentsOff()
    if request.customer_id != customer.id:
        raise NotFound("No such service request.")
    if (
        request.status in (RepairStatus.CANCELED, RepairStatus.CLOSED)
        and purpose == PaymentPurpose.DEPOSIT
    ):
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
        method=PaymentMethod.STRIPE,
        purpose=purpose,
        amount=amount,
        currency=currency(),
        status=PaymentStatus.PENDING,
    )
    db.session.add(payment)
    db.session.flush()
    metadata = {"payment_id": str(payment.id), "request_id": str(request.id), "purpose": purpose}
    what = "Deposit" if purpose == PaymentPurpose.DEPOSIT else "Repair"
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
            Payment.method == PaymentMethod.STRIPE,
            # A failed attempt leaves its session open for another try: close it too.
            Payment.status.in_((PaymentStatus.PENDING, PaymentStatus.FAILED)),
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
        payment.status = PaymentStatus.CANCELED
        payment.failure_reason = payment.failure_reason or "Replaced by a newer checkout."


def latest_online_payment(request: ServiceRequest, session_id: Optional[str] = None):
    """The newest Stripe payment of a request (or the one of ``session_id``)."""
    stmt = sa.select(Payment).where(
        Payment.service_request_id == request.id, Payment.method == PaymentMethod.STRIPE
    )
    if session_id:
        stmt = stmt.where(Payment.stripe_checkout_session_id == session_id)
    return db.session.scalar(stmt.order_by(Payment.id.desc()).limit(1))
