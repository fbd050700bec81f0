"""Counter payments: recorded by staff, verified by an admin; "pay at pickup" without Stripe."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, Forbidden, ValidationFailed
from fixmyphone.extensions import db
from fixmyphone.models import Notification, Payment
from fixmyphone.services.billing import balances, payments, stripe_gateway
from tests import factories
from tests.conftest import client_for, csrf_token

from .conftest import invoiced_request


@pytest.fixture
def app_settings():
    """The default shop: no Stripe keys at all."""
    return {}


@pytest.fixture
def admin(app):
    return factories.UserFactory(role="admin")


def test_staff_record_a_payment_that_waits_for_an_admin(app, customer, technician, admin):
    other_admin = factories.UserFactory(role="superadmin")
    factories.UserFactory(role="admin", active=False)
    request, _ = invoiced_request(customer, actor=admin)

    payment = payments.record_offline_payment(
        request, amount=10000, method="bank_transfer", actor=technician, reference="TRX-77"
    )

    assert (payment.status, payment.method, payment.reference) == (
        "pending",
        "bank_transfer",
        "TRX-77",
    )
    assert payment.recorded_by_id == technician.id
    assert balances.balance_due(request) == 10000  # not counted until verified
    alerts = db.session.scalars(
        sa.select(Notification).where(Notification.event == "payment_to_verify")
    ).all()
    assert {a.user_id for a in alerts} == {admin.id, other_admin.id}
    assert {a.channel for a in alerts} == {"in_app"}


def test_an_admin_verifies_who_and_when(app, customer, technician, admin):
    request, _ = invoiced_request(customer, actor=admin)
    payment = payments.record_offline_payment(
        request, amount=10000, method="cash", actor=technician
    )

    payments.verify_payment(payment, admin)

    assert payment.status == "succeeded"
    assert payment.verified_by_id == admin.id
    assert payment.verified_at is not None and payment.succeeded_at is not None
    assert balances.balance_due(request) == 0
    received = db.session.scalars(
        sa.select(Notification).where(Notification.event == "payment_received")
    ).all()
    assert received and received[0].context["attachments"] == [
        {"kind": "receipt", "payment_id": payment.id}
    ]
    with pytest.raises(Conflict):
        payments.verify_payment(payment, admin)


def test_a_technician_cannot_verify_and_a_customer_cannot_record(app, customer, technician):
    request, _ = invoiced_request(customer)
    payment = payments.record_offline_payment(
        request, amount=100, method="card_terminal", actor=technician
    )
    with pytest.raises(Forbidden):
        payments.verify_payment(payment, technician)
    with pytest.raises(Forbidden):
        payments.record_offline_payment(request, amount=100, method="cash", actor=customer)


def test_an_admin_can_reject_an_unmatched_payment(app, customer, technician, admin):
    request, _ = invoiced_request(customer, actor=admin)
    payment = payments.record_offline_payment(
        request, amount=100, method="bank_transfer", actor=technician
    )
    payments.reject_payment(payment, admin, "No transfer arrived")
    assert payment.status == "failed"
    assert payment.failure_reason == "No transfer arrived"
    assert balances.balance_due(request) == 10000


@pytest.mark.parametrize(
    "amount, method, field",
    [
        (0, "cash", "amount"),
        (-1, "cash", "amount"),
        ("10", "cash", "amount"),
        (100, "stripe", "method"),
        (100, "cheque", "method"),
    ],
)
def test_bad_counter_payments_are_refused(app, customer, admin, amount, method, field):
    request, _ = invoiced_request(customer, actor=admin)
    with pytest.raises(ValidationFailed) as err:
        payments.record_offline_payment(request, amount=amount, method=method, actor=admin)
    assert field in err.value.fields
    assert db.session.scalars(sa.select(Payment)).all() == []


def test_without_stripe_keys_the_site_offers_pay_at_pickup(customer, customer_client):
    request, _ = invoiced_request(customer)
    assert stripe_gateway.stripe_enabled() is False
    token = csrf_token(customer_client, f"/track/{request.tracking_token}")

    response = customer_client.post(f"/pay/{request.id}", data={"csrf_token": token})

    assert response.status_code == 302
    page = customer_client.get(response.headers["Location"]).get_data(as_text=True)
    assert "pay at pickup" in page
    assert db.session.scalars(sa.select(Payment)).all() == []
    methods = customer_client.get("/account/payment-methods")
    assert methods.status_code == 200
    assert "payment at pickup" in methods.get_data(as_text=True)
    with pytest.raises(stripe_gateway.OnlinePaymentsOff):
        stripe_gateway.start_checkout(request, customer)


def test_the_webhook_is_503_without_stripe(client):
    assert client.post("/webhooks/stripe", data="{}").status_code == 503


def test_without_stripe_the_pages_say_pay_at_pickup(app, customer):

    request, _ = invoiced_request(customer)
    client, _ = client_for(app, customer)
    html = client.get(f"/account/repairs/{request.id}").get_data(as_text=True)
    assert "pay at the counter" in html
    assert "/pay/" not in html
    history = client.get("/account/history").get_data(as_text=True)
    assert "to pay at pickup" in history and "/pay/" not in history
