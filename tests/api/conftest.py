"""Fixtures for the JSON API tests: bearer headers per role, objects owned by each."""

from __future__ import annotations

import pytest

from fixmyphone.extensions import db
from fixmyphone.services import tokens

from .. import factories


@pytest.fixture
def app_settings() -> dict:
    # A signing key of a realistic length (PyJWT warns about short HMAC keys).
    return {"JWT_SECRET_KEY": "api-tests-" + "k" * 40}


def bearer(user) -> dict:
    """Authorization headers for a fresh login of ``user``."""
    pair = tokens.start_session(user)
    db.session.commit()
    return {"Authorization": f"Bearer {pair.access_token}"}


@pytest.fixture
def customer_b(app):
    return factories.CustomerFactory()


@pytest.fixture
def other_technician(app):
    return factories.TechnicianFactory()


@pytest.fixture
def as_customer(customer):
    return bearer(customer)


@pytest.fixture
def as_customer_b(customer_b):
    return bearer(customer_b)


@pytest.fixture
def as_technician(technician):
    return bearer(technician)


@pytest.fixture
def as_other_technician(other_technician):
    return bearer(other_technician)


@pytest.fixture
def as_admin(admin_user):
    return bearer(admin_user)


@pytest.fixture
def as_superadmin(superadmin):
    return bearer(superadmin)


@pytest.fixture
def repair(customer, technician):
    """A pending request of ``customer`` assigned to ``technician``."""
    request = factories.ServiceRequestFactory(customer=customer, technician=technician)
    db.session.commit()
    return request


def assert_error(response, status: int, code: str) -> dict:
    """The response is the contract's error shape with this status and code."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert set(body["error"]) <= {"code", "message", "fields"}
    return body["error"]
