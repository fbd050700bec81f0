"""Payments tests: Stripe keys pointed at a local Stripe-shaped server, signed webhooks."""

from __future__ import annotations

import itertools
import json
import time

import pytest
import stripe

from fixmyphone.extensions import db
from fixmyphone.models import QuoteStatus
from fixmyphone.services.billing import invoices
from tests import factories

from .stripe_fake import StripeFake

WEBHOOK_SECRET = "whsec_test_secret"
_event_ids = itertools.count(1)


@pytest.fixture(scope="session")
def stripe_server():
    server = StripeFake().start()
    yield server
    server.stop()


@pytest.fixture
def stripe_fake(stripe_server):
    stripe_server.reset()
    yield stripe_server
    stripe_server.reset()


@pytest.fixture
def app_settings(stripe_fake):
    return {
        "STRIPE_SECRET_KEY": "sk_test_fake",
        "STRIPE_PUBLISHABLE_KEY": "pk_test_fake",
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "STRIPE_API_BASE": stripe_fake.url,
        "STRIPE_TIMEOUT": 2,
        "SHOP_CURRENCY": "usd",
        "TAX_RATE_BP": 0,
    }


def signed(payload: str, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """A Stripe-Signature header for ``payload``."""
    return stripe.WebhookSignature.generate_signature_header(
        payload, secret, timestamp=timestamp or int(time.time())
    )


def event_payload(event_type: str, obj: dict, event_id: str | None = None) -> str:
    return json.dumps(
        {
            "id": event_id or f"evt_test_{next(_event_ids)}",
            "object": "event",
            "api_version": stripe.api_version,
            "created": int(time.time()),
            "livemode": False,
            "type": event_type,
            "data": {"object": obj},
        }
    )


def send_event(
    client, event_type: str, obj: dict, *, event_id: str | None = None, secret: str = WEBHOOK_SECRET
):
    """POST a signed event to the webhook like Stripe does."""
    payload = event_payload(event_type, obj, event_id)
    return client.post(
        "/webhooks/stripe",
        data=payload,
        headers={"Stripe-Signature": signed(payload, secret), "Content-Type": "application/json"},
    )


def invoiced_request(customer, *, quote: int = 10000, actor=None):
    """A repair with an approved quote and its issued invoice (committed)."""
    request = factories.ServiceRequestFactory(
        customer=customer,
        status="quality_check",
        quote_amount=quote,
        quote_currency="usd",
        quote_details="Screen replacement",
        quote_status=QuoteStatus.APPROVED,
    )
    actor = actor or factories.UserFactory(role="admin")
    invoice = invoices.issue_invoice(request, actor)
    db.session.commit()
    return request, invoice


def session_completed(
    session_id: str,
    payment_id: int,
    request_id: int,
    *,
    intent: str = "pi_test_1",
    paid: bool = True,
    amount: int | None = 10000,
    currency: str | None = "usd",
) -> dict:
    """A Checkout Session as Stripe sends it; ``amount``/``currency`` what was charged (the
    default matches ``invoiced_request``'s 10000 USD)."""
    return {
        "id": session_id,
        "object": "checkout.session",
        "mode": "payment",
        "status": "complete",
        "payment_status": "paid" if paid else "unpaid",
        "payment_intent": intent,
        "amount_total": amount,
        "currency": currency,
        "metadata": {"payment_id": str(payment_id), "request_id": str(request_id)},
    }


def intent_object(
    intent: str,
    payment_id: int,
    request_id: int,
    *,
    charge: str = "ch_test_1",
    error: str | None = None,
    amount: int | None = 10000,
    currency: str | None = "usd",
) -> dict:
    """A PaymentIntent as Stripe sends it; ``amount`` is ``amount_received`` (0 on failure)."""
    obj = {
        "id": intent,
        "object": "payment_intent",
        "status": "requires_payment_method" if error else "succeeded",
        "latest_charge": charge,
        "amount": 10000 if amount is None else amount,
        "amount_received": 0 if error else amount,
        "currency": currency,
        "metadata": {"payment_id": str(payment_id), "request_id": str(request_id)},
    }
    if error:
        obj["last_payment_error"] = {"message": error}
    return obj
