"""The OpenAPI document, the docs page (vendored, no inline script), CORS off by default."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from openapi_spec_validator import validate

STATIC = Path(__file__).resolve().parents[2] / "static"

OPERATIONS = {
    ("/api/auth/login", "post"),
    ("/api/auth/refreshToken", "post"),
    ("/api/auth/logout", "post"),
    ("/api/user/create-customer", "post"),
    ("/api/service-request", "post"),
    ("/api/service-request", "get"),
    ("/api/service-request/{request_id}", "get"),
    ("/api/service-request/{request_id}/status", "get"),
    ("/api/service-request/{request_id}/status", "post"),
    ("/api/service-request/{request_id}/messages", "get"),
    ("/api/service-request/{request_id}/messages", "post"),
    ("/api/appointment/slots", "get"),
    ("/api/appointment", "post"),
    ("/api/appointment/{appointment_id}", "put"),
    ("/api/appointment/{appointment_id}", "delete"),
    ("/api/customer/{customer_id}/profile", "get"),
    ("/api/customer/{customer_id}/profile", "put"),
}
PUBLIC = {
    ("/api/auth/login", "post"),
    ("/api/auth/refreshToken", "post"),
    ("/api/auth/logout", "post"),
    ("/api/user/create-customer", "post"),
    ("/api/appointment/slots", "get"),
}


@pytest.fixture
def spec(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    return response.get_json()


def test_document_is_valid_openapi_3(spec):
    assert spec["openapi"].startswith("3.")
    validate(spec)


def test_every_endpoint_is_described(spec):
    found = {
        (path, method)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "delete", "patch")
    }
    assert OPERATIONS <= found


def _resolve(spec, response):
    if "$ref" in response:
        return spec["components"]["responses"][response["$ref"].rsplit("/", 1)[1]]
    return response


def test_errors_use_the_contract_schema(spec):
    error = spec["components"]["schemas"]["Error"]
    assert error["required"] == ["error"]
    detail = spec["components"]["schemas"]["ErrorDetail"]
    assert set(detail["properties"]) == {"code", "message", "fields"}
    for path, method in OPERATIONS:
        responses = spec["paths"][path][method]["responses"]
        for status, response in responses.items():
            if status.startswith(("4", "5")) or status == "default":
                content = _resolve(spec, response)["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (path, status)


def test_security_and_401_where_a_token_is_needed(spec):
    scheme = spec["components"]["securitySchemes"]["bearerAuth"]
    assert scheme == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    for path, method in OPERATIONS:
        operation = spec["paths"][path][method]
        if (path, method) in PUBLIC:
            assert "security" not in operation, path
        else:
            assert operation["security"] == [{"bearerAuth": []}], path
            assert "401" in operation["responses"], path


@pytest.mark.parametrize(
    ("path", "method", "statuses"),
    [
        ("/api/auth/login", "post", {"200", "400", "401", "422", "429"}),
        ("/api/user/create-customer", "post", {"201", "409", "422", "429"}),
        ("/api/service-request", "post", {"201", "401", "403", "422"}),
        (
            "/api/service-request/{request_id}/status",
            "post",
            {"200", "401", "403", "404", "409", "422"},
        ),
        ("/api/appointment", "post", {"201", "401", "404", "409", "422"}),
        ("/api/customer/{customer_id}/profile", "put", {"200", "401", "404", "422"}),
        ("/api/appointment/slots", "get", {"200", "422"}),
    ],
)
def test_documented_statuses(spec, path, method, statuses):
    assert statuses <= set(spec["paths"][path][method]["responses"])


def test_429_documents_retry_after(spec):
    headers = spec["components"]["responses"]["TOO_MANY_REQUESTS"]["headers"]
    assert headers["Retry-After"]["required"] is True


def test_docs_page_uses_vendored_assets_and_no_inline_script(client):
    response = client.get("/api/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.get_data(as_text=True)
    assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, re.S)
    assert scripts and all('src="/static/' in attrs and not body.strip() for attrs, body in scripts)
    assert "http://" not in html.replace('href="/', "") and "https://" not in html
    assert not re.search(r"\son[a-z]+=|\sstyle=", html)
    assert 'data-spec-url="/api/openapi.json"' in html
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert (STATIC / "vendor" / "swagger-ui" / name).stat().st_size > 10_000
        assert client.get(f"/static/vendor/swagger-ui/{name}").status_code == 200
    assert client.get("/static/js/api-docs.js").status_code == 200


# ---------------------------------------------------------------- CORS


def test_cors_is_off_by_default(client):
    response = client.get(
        "/api/appointment/slots?date=2030-01-01", headers={"Origin": "https://x.example"}
    )
    assert "Access-Control-Allow-Origin" not in response.headers


def test_fixed_values_are_enums_in_the_document(spec):
    from fixmyphone.workflow import STATUSES

    schemas = spec["components"]["schemas"]
    assert schemas["Status"]["properties"]["status"]["enum"] == list(STATUSES)
    assert schemas["HistoryEntry"]["properties"]["status"]["enum"] == list(STATUSES)
    assert schemas["TokenPair"]["properties"]["token_type"]["enum"] == ["Bearer"]
    assert schemas["Customer"]["properties"]["role"]["enum"] == ["customer"]
    assert "scheduled" in schemas["Appointment"]["properties"]["status"]["enum"]


def test_path_ids_are_documented_as_positive_integers(spec):
    parameters = spec["paths"]["/api/service-request/{request_id}/status"]["parameters"]
    (request_id,) = [p for p in parameters if p["name"] == "request_id"]
    assert request_id["schema"] == {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
