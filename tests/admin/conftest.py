"""Shared fixtures for the back-office tests."""

from __future__ import annotations

import pytest

from fixmyphone.extensions import db
from tests import factories
from tests.conftest import csrf_token

ROLES = ("anonymous", "customer", "technician", "admin", "superadmin")


def post_action(client, list_url: str, action: str, ids, **fields):
    """POST a Flask-Admin bulk action the way the list page does (with its CSRF token)."""
    token = csrf_token(client, list_url)
    data = {"csrf_token": token, "action": action, "rowid": [str(i) for i in ids], "url": list_url}
    data.update(fields)
    return client.post(list_url + "action/", data=data)


def post_form(client, page_url: str, url: str, **fields):
    """POST a page form with the CSRF token rendered on ``page_url``."""
    token = csrf_token(client, page_url)
    return client.post(url, data={"csrf_token": token, **fields})


@pytest.fixture
def tech(app):
    return factories.TechnicianFactory()


@pytest.fixture
def repair(app, tech):
    req = factories.ServiceRequestFactory(technician=tech)
    db.session.commit()
    return req
