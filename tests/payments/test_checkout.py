"""Paying online: the exact Checkout Session the app asks Stripe for, and what it stores."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict
from fixmyphone.extensions import db
from fixmyphone.models import Payment
from fixmyphone.services.billing import payments, stripe_gateway
from tests import factories
from tests.conftest import client_for, csrf_token

from .conftest import invoiced_request


def _pay(client, request, purpose="balance"):
    token = csrf_token(client, f"/track/{request.tracking_token}")
    return client.post(f"/pay/{request.id}", data={"csrf_token": token, "purpose": purpose})


def test_checkout_sends_the_balance_to_stripe_and_stores_a_pending_payment(
    customer, customer_client, stripe_fake
):
    request, _invoice = invoiced_request(customer, quote=12345)

    response = _pay(customer_client, request)

    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://checkout.stripe.test/c/pay/cs_test_")
    (call,) = stripe_fake.calls("POST", "/v1/checkout/sessions")
    payment = db.session.scalars(sa.select(Payment)).one()
    assert call.headers["Authorization"] == "Bearer sk_test_fake"
    p = call.params
    assert p["mode"] == "payment"
    assert p["line_items[0][price_data][unit_amount]"] == "12345"
    assert p["line_items[0][price_data][currency]"] == "usd"
    assert p["line_items[0][quantity]"] == "1"
    assert p["metadata[payment_id]"] == str(payment.id)
    assert p["metadata[request_id]"] == str(request.id)
    assert p["payment_intent_data[metadata][payment_id]"] == str(payment.id)
    assert p["client_reference_id"] == str(request.id)
    assert p["customer_email"] == customer.email
    assert p["success_url"] == (
        f"http://shop.test/pay/{request.id}/return?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert p["cancel_url"] == f"http://shop.test/pay/{request.id}/return?canceled=1"
    assert payment.status == "pending"
    assert payment.method == "stripe"
    assert payment.amount == 12345
    assert payment.stripe_checkout_session_id == response.headers["Location"].rsplit("/", 1)[1]


def test_the_success_redirect_alone_does_not_mark_the_payment_paid(
    customer, customer_client, stripe_fake
):
    request, _ = invoiced_request(customer)
    _pay(customer_client, request)
    payment = db.session.scalars(sa.select(Payment)).one()

    page = customer_client.get(
        f"/pay/{request.id}/return?session_id={payment.stripe_checkout_session_id}"
    )

    assert page.status_code == 200
    assert "Processing" in page.get_data(as_text=True)
    assert 'src="/static/js/payment-status.js"' in page.get_data(as_text=True)
    status = customer_client.get(f"/pay/{request.id}/status.json").get_json()
    assert status["status"] == "pending"
    assert status["balance_due"] == {"amount": 10000, "currency": "usd"}
    db.session.expire_all()
    assert db.session.get(Payment, payment.id).status == "pending"


def test_paying_again_expires_the_earlier_checkout(customer, customer_client, stripe_fake):
    request, _ = invoiced_request(customer)
    _pay(customer_client, request)
    first = db.session.scalars(sa.select(Payment)).one()

    response = _pay(customer_client, request)

    assert response.status_code == 303
    assert stripe_fake.calls(
        "POST", f"/v1/checkout/sessions/{first.stripe_checkout_session_id}/expire"
    )
    db.session.expire_all()
    rows = db.session.scalars(sa.select(Payment).order_by(Payment.id)).all()
    assert [r.status for r in rows] == ["canceled", "pending"]


def test_an_earlier_completed_checkout_blocks_a_second_one(customer, customer_client, stripe_fake):
    request, _ = invoiced_request(customer)
    _pay(customer_client, request)
    first = db.session.scalars(sa.select(Payment)).one()
    stripe_fake.sessions[first.stripe_checkout_session_id]["status"] = "complete"

    response = _pay(customer_client, request)

    assert response.status_code == 302
    assert len(stripe_fake.calls("POST", "/v1/checkout/sessions")) == 1
    assert "being processed" in customer_client.get(response.headers["Location"]).get_data(
        as_text=True
    )


@pytest.mark.parametrize("failure", ["error", "timeout"])
def test_a_stripe_failure_saves_nothing_and_explains(
    customer, customer_client, stripe_fake, failure
):
    request, _ = invoiced_request(customer)
    if failure == "error":
        stripe_fake.fail_next = (500, "boom")
    else:
        stripe_fake.delay = 3  # the client's timeout is 2 s in these tests

    response = _pay(customer_client, request)

    assert response.status_code == 302
    assert response.headers["Location"] == f"/track/{request.tracking_token}"
    assert db.session.scalars(sa.select(Payment)).all() == []
    stripe_fake.delay = 0


def test_start_checkout_raises_a_domain_error_when_stripe_fails(app, customer, stripe_fake):
    request, _ = invoiced_request(customer)
    stripe_fake.fail_next = (500, "boom")
    with pytest.raises(stripe_gateway.PaymentProviderError, match="nothing was charged"):
        stripe_gateway.start_checkout(request, customer)
    assert db.session.scalars(sa.select(Payment)).all() == []


def test_nothing_to_pay_is_refused(customer, customer_client, stripe_fake):
    request = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()

    response = _pay(customer_client, request)

    assert response.status_code == 302
    assert stripe_fake.requests == []


def test_another_customers_request_is_404(customer_client, stripe_fake):
    other = factories.CustomerFactory()
    request, _ = invoiced_request(other)

    assert _pay(customer_client, request).status_code == 404
    assert customer_client.get(f"/pay/{request.id}/return").status_code == 404
    assert customer_client.get(f"/pay/{request.id}/status.json").status_code == 404
    assert stripe_fake.requests == []


def test_checkout_needs_the_csrf_token(customer, customer_client, stripe_fake):
    request, _ = invoiced_request(customer)
    assert customer_client.post(f"/pay/{request.id}").status_code == 400
    assert stripe_fake.requests == []


def test_a_saved_stripe_customer_is_passed_to_checkout(customer, customer_client, stripe_fake):
    customer.customer_profile.stripe_customer_id = "cus_saved"
    request, _ = invoiced_request(customer)

    _pay(customer_client, request)

    (call,) = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert call.params["customer"] == "cus_saved"
    assert "customer_email" not in call.params


@pytest.mark.parametrize("app_settings_extra", [{"DEPOSIT_AMOUNT": 2500}])
def test_deposit_before_the_repair(app, customer, stripe_fake, app_settings_extra):
    app.config.update(app_settings_extra)
    request = factories.ServiceRequestFactory(customer=customer, status="scheduled")

    assert payments.what_is_due(request) == ("deposit", 2500)
    url = stripe_gateway.start_checkout(request, customer, purpose="deposit")
    db.session.commit()

    assert url.startswith("https://checkout.stripe.test/")
    (call,) = stripe_fake.calls("POST", "/v1/checkout/sessions")
    assert call.params["line_items[0][price_data][unit_amount]"] == "2500"
    assert call.params["metadata[purpose]"] == "deposit"
    payment = db.session.scalars(sa.select(Payment)).one()
    assert payment.purpose == "deposit"


def test_no_deposit_when_deposits_are_off(app, customer, stripe_fake):
    request = factories.ServiceRequestFactory(customer=customer, status="scheduled")
    assert payments.what_is_due(request) is None
    with pytest.raises(Conflict):
        stripe_gateway.start_checkout(request, customer, purpose="deposit")


def test_the_repair_page_offers_online_payment_and_documents(
    customer, customer_client, stripe_fake
):
    request, invoice = invoiced_request(customer)
    html = customer_client.get(f"/account/repairs/{request.id}").get_data(as_text=True)
    assert f'action="/pay/{request.id}"' in html
    assert "Pay $100.00" in html
    assert f"/documents/invoice/{invoice.id}.pdf" in html
    history = customer_client.get("/account/history").get_data(as_text=True)
    assert f'action="/pay/{request.id}"' in history


def test_a_failed_attempts_session_is_closed_before_a_new_checkout(
    customer, customer_client, stripe_fake
):
    request, _ = invoiced_request(customer)
    _pay(customer_client, request)
    first = db.session.scalars(sa.select(Payment)).one()
    payments.mark_failed(first, "Declined")
    db.session.commit()

    assert _pay(customer_client, request).status_code == 303

    session_id = first.stripe_checkout_session_id
    assert stripe_fake.calls("POST", f"/v1/checkout/sessions/{session_id}/expire")
    db.session.expire_all()
    old = db.session.get(Payment, first.id)
    assert (old.status, old.failure_reason) == ("canceled", "Declined")


def test_after_logging_in_from_a_pay_button_the_customer_lands_on_the_repair(
    app, customer, stripe_fake
):

    request, _ = invoiced_request(customer)
    anonymous = app.test_client()
    bounced = anonymous.post(f"/pay/{request.id}")
    assert bounced.status_code in (302, 400)  # to the login page (or refused without CSRF)
    client, _ = client_for(app, customer)
    landed = client.get(f"/pay/{request.id}")
    assert landed.status_code == 302
    assert landed.headers["Location"] == f"/track/{request.tracking_token}"
    assert stripe_fake.requests == []
