"""Saved cards: kept by Stripe on a Stripe Customer, added through Checkout in setup mode.

We only ever see a card's brand, last digits and expiry; the card itself stays with Stripe.
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from ...domain_errors import NotFound
from ...models import User
from .. import audit
from ..profiles import profile_of
from .stripe_gateway import (
    OnlinePaymentsOff,
    provider_failed,
    site_url,
    stripe_client,
    stripe_enabled,
)
from .totals import currency


@dataclass(frozen=True)
class SavedCard:
    """A card Stripe keeps for a customer (we only ever see brand, last digits and expiry)."""

    id: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


def ensure_stripe_customer(customer: User) -> str:
    """The customer's Stripe Customer id, created on first use."""
    profile = profile_of(customer)
    if profile.stripe_customer_id:
        return profile.stripe_customer_id
    try:
        created = stripe_client().v1.customers.create(
            params={
                "email": customer.email,
                "name": customer.full_name,
                "metadata": {"user_id": str(customer.id)},
            }
        )
    except stripe.StripeError as exc:
        raise provider_failed("customer", exc) from exc
    profile.stripe_customer_id = created.id
    audit.record(customer, "stripe_customer_created", customer, after={"customer": created.id})
    return created.id


def start_card_setup(customer: User) -> str:
    """A Checkout Session in setup mode where the customer saves a card; returns its URL."""
    if not stripe_enabled():
        raise OnlinePaymentsOff()
    customer_id = ensure_stripe_customer(customer)
    try:
        session = stripe_client().v1.checkout.sessions.create(
            params={
                "mode": "setup",
                "currency": currency(),
                "customer": customer_id,
                "payment_method_types": ["card"],
                "metadata": {"user_id": str(customer.id)},
                "success_url": site_url("payments.payment_methods", saved=1),
                "cancel_url": site_url("payments.payment_methods"),
            }
        )
    except stripe.StripeError as exc:
        raise provider_failed("setup checkout", exc) from exc
    return session.url


def list_saved_cards(customer: User) -> list[SavedCard]:
    """The cards saved for this customer in Stripe (none without a Stripe customer)."""
    profile = customer.customer_profile
    if not stripe_enabled() or profile is None or not profile.stripe_customer_id:
        return []
    try:
        result = stripe_client().v1.payment_methods.list(
            params={"customer": profile.stripe_customer_id, "type": "card"}
        )
    except stripe.StripeError as exc:
        raise provider_failed("list payment methods", exc) from exc
    cards = []
    for method in (m.to_dict() for m in result.data):
        card = method.get("card") or {}
        cards.append(
            SavedCard(
                id=method["id"],
                brand=str(card.get("brand") or "card"),
                last4=str(card.get("last4") or "????"),
                exp_month=int(card.get("exp_month") or 0),
                exp_year=int(card.get("exp_year") or 0),
            )
        )
    return cards


def remove_saved_card(customer: User, payment_method_id: str) -> None:
    """Detach one of the customer's own saved cards (another customer's id → NotFound)."""
    if not any(card.id == payment_method_id for card in list_saved_cards(customer)):
        raise NotFound("No such saved card.")
    try:
        stripe_client().v1.payment_methods.detach(payment_method_id)
    except stripe.StripeError as exc:
        raise provider_failed("detach payment method", exc) from exc
    audit.record(
        customer, "payment_method_removed", customer, after={"payment_method": payment_method_id}
    )
