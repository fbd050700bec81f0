"""The JSON API at /api (contract: ../shared/spec/api-contract.md).

flask-smorest builds the OpenAPI document at /api/openapi.json from the schemas and views;
/api/docs shows it with a vendored Swagger UI. Authentication is a bearer access token
(services/tokens.py); errors all have the contract's one shape (errors.py).
"""

from __future__ import annotations

from flask import Blueprint as FlaskBlueprint
from flask import Flask, current_app, render_template, request, url_for

from ..extensions import csrf
from . import appointments, auth, customers, repairs
from .base import BEARER, Api
from .fields import IdConverter, id_parameter_schema

# The docs page: everything from this origin, no inline script. The one hash is the <style>
# element the vendored Swagger UI 5.35.0 bundle injects (re-check it when upgrading).
SWAGGER_UI_STYLE = "'sha256-RL3ie0nH+Lzz2YNqQN83mnU0J1ot4QL7b99vMdIX99w='"
DOCS_CSP = (
    f"default-src 'self'; script-src 'self'; style-src 'self' {SWAGGER_UI_STYLE}; "
    "img-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; "
    "frame-ancestors 'none'"
)

docs_bp = FlaskBlueprint("api_docs_page", __name__, url_prefix="/api")


@docs_bp.get("/docs")
def docs():
    """A browsable view of the OpenAPI document (Swagger UI from static/vendor)."""
    response = current_app.make_response(
        render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))
    )
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def _is_api_path() -> bool:
    return request.path == "/api" or request.path.startswith("/api/")


def limit_body_size() -> None:
    """A smaller body limit for API requests (413 beyond it)."""
    if _is_api_path():
        request.max_content_length = current_app.config["API_MAX_CONTENT_LENGTH"]


def cors_headers(response):
    """CORS for origins on the CORS_ORIGINS allow-list; nothing for any other origin."""
    allowed = current_app.config["CORS_ORIGINS"]
    if not allowed or not _is_api_path():
        return response
    response.vary.add("Origin")
    origin = request.headers.get("Origin")
    if not origin or origin not in allowed:
        return response
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Expose-Headers"] = "Retry-After, WWW-Authenticate"
    if request.method == "OPTIONS" and request.headers.get("Access-Control-Request-Method"):
        methods = response.headers.get("Allow") or "GET, POST, PUT, DELETE, OPTIONS"
        response.headers["Access-Control-Allow-Methods"] = methods
        response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def register_api(app: Flask) -> None:
    """Mount the API blueprints, the OpenAPI document and the docs page on the app."""
    api = Api(
        app,
        spec_kwargs={
            "info": {
                "description": (
                    "The FixMyPhone JSON API. Authenticate with `Authorization: Bearer "
                    "<access_token>` from `POST /api/auth/login`. Every error has the shape "
                    '`{"error": {"code", "message", "fields"?}}`.'
                )
            }
        },
    )
    app.url_map.converters["id"] = IdConverter
    api.register_converter(IdConverter, id_parameter_schema)
    api.spec.components.security_scheme(
        BEARER, {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    )
    for module in (auth, customers, repairs, appointments):
        api.register_blueprint(module.blp)
        csrf.exempt(module.blp)
    app.register_blueprint(docs_bp)
    app.extensions["fixmyphone-api"] = api
    app.before_request(limit_body_size)
    app.after_request(cors_headers)
