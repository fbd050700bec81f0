"""A shop that takes booking deposits offers one on the repair page before any invoice."""

import pytest

from ..factories import ServiceRequestFactory


@pytest.fixture
def app_settings():
    return {"STRIPE_SECRET_KEY": "sk_test_deposit", "DEPOSIT_AMOUNT": 2000}


def test_pending_repair_offers_the_deposit(app, customer_client, customer):
    request = ServiceRequestFactory(customer=customer)
    html = customer_client.get(f"/account/repairs/{request.id}").get_data(as_text=True)
    assert "Pay the booking deposit of $20.00" in html
    assert 'name="purpose" value="deposit"' in html


def test_no_deposit_once_the_repair_is_under_way(app, customer_client, customer):
    request = ServiceRequestFactory(customer=customer, status="in_progress")
    html = customer_client.get(f"/account/repairs/{request.id}").get_data(as_text=True)
    assert "booking deposit" not in html
