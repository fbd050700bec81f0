"""Fixtures for the customer site: an open shop, a repair, posting forms with their CSRF token."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import utcnow

from .. import factories
from ..conftest import csrf_token


def post_form(client, page: str, data: dict, url: str | None = None, **kwargs):
    """GET ``page`` for its CSRF token, then POST ``data`` to ``url`` (default: the page)."""
    token = csrf_token(client, page)
    return client.post(url or page, data={**data, "csrf_token": token}, **kwargs)


def slot_at(days: int = 1, hour: int = 10, minute: int = 0) -> datetime:
    """A slot start ``days`` from today (the tests' shop runs on UTC)."""
    day = utcnow().date() + timedelta(days=days)
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def open_shop(app):
    """Opening hours 09:00-17:00 every day, one place per 30-minute slot."""
    factories.open_every_day()
    db.session.commit()


@pytest.fixture
def repair(app, customer):
    """A pending repair of the logged-in customer."""
    r = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    return r


@pytest.fixture
def other_repair(app):
    """A repair that belongs to somebody else."""
    r = factories.ServiceRequestFactory()
    db.session.commit()
    return r
