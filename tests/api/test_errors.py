"""One error shape for everything under /api; HTML pages elsewhere stay HTML."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import ServiceRequest
from fixmyphone.services import repairs

from .conftest import assert_error


@pytest.mark.parametrize(
    "path",
    [
        "/api",
        "/api/",
        "/api/nope",
        "/api/service-request/abc",
        "/api/service-request/-1",
        "/api/service-request/4\u19d7/status",  # a Tai Lue digit is not an id digit
        "/api/service-request/\uff14/status",  # nor a full-width 4
    ],
)
def test_unknown_api_paths_are_json_404(client, path):
    assert_error(client.get(path), 404, "not_found")


def test_huge_ids_are_404_not_a_crash(client, as_admin):
    assert_error(
        client.get("/api/service-request/99999999999999999999", headers=as_admin), 404, "not_found"
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("delete", "/api/service-request"),
        ("put", "/api/auth/login"),
        ("patch", "/api/appointment/1"),
        ("post", "/api/appointment/slots"),
    ],
)
def test_wrong_method_is_405_with_allow(client, method, path):
    response = getattr(client, method)(path)
    assert_error(response, 405, "method_not_allowed")
    assert response.headers["Allow"]


def test_malformed_json_is_400(client, as_customer):
    response = client.post(
        "/api/service-request",
        data='{"brand": "Apple",',
        content_type="application/json",
        headers=as_customer,
    )
    error = assert_error(response, 400, "bad_request")
    assert "fields" not in error


@pytest.mark.parametrize(
    ("data", "content_type"),
    [("", "application/json"), ('{"email": "a@b.co"}', "text/plain"), ("email=a", None)],
)
def test_a_required_body_must_be_json(client, data, content_type):
    kwargs = {"content_type": content_type} if content_type else {}
    response = client.post("/api/auth/login", data=data, **kwargs)
    assert_error(response, 400, "bad_request")


@pytest.mark.parametrize("body", ["[1, 2]", '"text"', "42", "null"])
def test_a_body_that_is_not_an_object_is_422(client, body):
    response = client.post("/api/auth/login", data=body, content_type="application/json")
    error = assert_error(response, 422, "validation_error")
    assert error["message"] == "The request body must be a JSON object."


def test_oversized_body_is_413(client, as_customer):
    response = client.post(
        "/api/service-request",
        data='{"issue_description": "' + "x" * 200_000 + '"}',
        content_type="application/json",
        headers=as_customer,
    )
    assert_error(response, 413, "payload_too_large")


def test_validation_errors_name_fields_not_locations(client, as_customer):
    response = client.post(
        "/api/service-request", json={"device_type": 7, "brand": ""}, headers=as_customer
    )
    error = assert_error(response, 422, "validation_error")
    assert {"device_type", "brand", "model", "issue_description"} <= set(error["fields"])
    assert "json" not in error["fields"]
    assert all(isinstance(v, list) and v for v in error["fields"].values())


def test_unexpected_error_is_json_500_and_rolls_back(monkeypatch, client, as_customer):
    real = repairs.create_service_request

    def explode(*args, **kwargs):
        real(*args, **kwargs)  # stages a request in the session...
        raise RuntimeError("disk on fire")  # ...then fails before the commit

    monkeypatch.setattr(repairs, "create_service_request", explode)
    response = client.post(
        "/api/service-request",
        json={"device_type": "phone", "brand": "A", "model": "B", "issue_description": "C"},
        headers=as_customer,
    )
    error = assert_error(response, 500, "internal_error")
    assert "disk on fire" not in error["message"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceRequest)) == 0


def test_pages_outside_the_api_stay_html(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"


def test_api_never_answers_html_for_errors(client):
    for response in (client.get("/api/x"), client.delete("/api/auth/login")):
        assert response.mimetype == "application/json"


def test_csrf_does_not_apply_to_the_api(client, customer):
    # Bearer-token clients send no CSRF token, and CSRF stays on for the site.
    from ..factories import PASSWORD

    response = client.post("/api/auth/login", json={"email": customer.email, "password": PASSWORD})
    assert response.status_code == 200


def test_smorest_handler_gives_the_same_shape(app):
    from werkzeug.exceptions import Conflict as HTTPConflict

    api = app.extensions["fixmyphone-api"]
    with app.test_request_context("/api/anything"):
        response = api.handle_http_exception(HTTPConflict())
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "conflict"


@pytest.mark.parametrize(
    "method, path",
    [
        ("post", "/api/service-request/0/status"),
        ("post", "/api/service-request/2147483648/status"),
        ("get", "/api/service-request/99999999999999/status"),
        ("post", "/api/service-request/0/messages"),
        ("put", "/api/customer/0/profile"),
        ("put", "/api/customer/99999999999/profile"),
        ("get", "/api/customer/2147483648/profile"),
        ("put", "/api/appointment/0"),
        ("delete", "/api/appointment/0"),
        ("delete", "/api/appointment/2147483648"),
    ],
)
def test_an_id_that_names_nothing_is_404_on_every_method(client, as_admin, method, path):
    body = {"status": "in_progress", "body": "hi", "start": "2030-01-01T10:00:00Z"}
    response = getattr(client, method)(path, json=body, headers=as_admin)
    assert_error(response, 404, "not_found")
