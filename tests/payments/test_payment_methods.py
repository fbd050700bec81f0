"""Saved cards: a Stripe Customer, Checkout in setup mode, list and detach on /account/payment-methods."""

from __future__ import annotations

import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import CustomerProfile
from tests.conftest import csrf_token

PAGE = "/account/payment-methods"


def _post(client, **data):
    return client.post(PAGE, data={"csrf_token": csrf_token(client, PAGE), **data})


def test_saving_a_card_creates_a_customer_and_a_setup_checkout(
    customer, customer_client, stripe_fake
):
    response = _post(customer_client, action="add")

    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://checkout.stripe.test/")
    (created,) = stripe_fake.calls("POST", "/v1/customers")
    assert created.params == {
        "email": customer.email,
        "name": customer.full_name,
        "metadata[user_id]": str(customer.id),
    }
    profile = db.session.scalar(
        sa.select(CustomerProfile).where(CustomerProfile.user_id == customer.id)
    )
    assert profile.stripe_customer_id.startswith("cus_test_")
    (session,) = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert session.params["mode"] == "setup"
    assert session.params["customer"] == profile.stripe_customer_id
    assert session.params["currency"] == "usd"
    assert session.params["success_url"] == "http://shop.test/account/payment-methods?saved=1"

    # A second card reuses the same Stripe customer.
    _post(customer_client, action="add")
    assert len(stripe_fake.calls("POST", "/v1/customers")) == 1


def test_cards_are_listed_and_removed(customer, customer_client, stripe_fake):
    customer.customer_profile.stripe_customer_id = "cus_mine"
    db.session.commit()
    mine = stripe_fake.add_card("cus_mine", brand="visa", last4="4242")
    theirs = stripe_fake.add_card("cus_other", brand="amex", last4="0005")

    html = customer_client.get(PAGE).get_data(as_text=True)
    assert "Visa ending in 4242" in html
    assert "0005" not in html
    (listed,) = stripe_fake.calls("GET", "/v1/payment_methods")
    assert listed.params == {"customer": "cus_mine", "type": "card"}

    refused = _post(customer_client, action="remove", payment_method=theirs)
    assert refused.status_code == 302
    assert stripe_fake.calls("POST", f"/v1/payment_methods/{theirs}/detach") == []
    assert theirs in stripe_fake.payment_methods

    removed = _post(customer_client, action="remove", payment_method=mine)
    assert removed.status_code == 302
    assert stripe_fake.calls("POST", f"/v1/payment_methods/{mine}/detach")
    assert mine not in stripe_fake.payment_methods
    assert "No saved cards" in customer_client.get(PAGE).get_data(as_text=True)


def test_a_stripe_outage_is_explained_not_a_500(customer, customer_client, stripe_fake):
    customer.customer_profile.stripe_customer_id = "cus_mine"
    db.session.commit()
    stripe_fake.fail_next = (500, "down")
    page = customer_client.get(PAGE)
    assert page.status_code == 200
    assert "could not be reached" in page.get_data(as_text=True)


def test_the_page_needs_login_and_csrf(app, customer_client, stripe_fake):
    assert app.test_client().get(PAGE).status_code == 302
    assert customer_client.post(PAGE, data={"action": "add"}).status_code == 400
    assert stripe_fake.requests == []
