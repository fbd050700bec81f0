"""The API's flask-smorest pieces: the Api with the contract's error shape, and a Blueprint
that knows how to require a bearer token and document the errors an endpoint answers."""

from __future__ import annotations

import http
from functools import wraps

import flask_smorest
import marshmallow as ma
from flask import g, request
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import BadRequest

from ..errors import http_error
from ..services import tokens

BEARER = "bearerAuth"

# Headers some error responses always carry (documented so clients can rely on them).
_ERROR_HEADERS = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer` challenge.",
            "schema": {"type": "string"},
        }
    },
    405: {
        "Allow": {
            "description": "The methods this URL accepts.",
            "schema": {"type": "string"},
            "required": True,
        }
    },
    429: {
        "Retry-After": {
            "description": "Seconds to wait before trying again.",
            "schema": {"type": "string"},
            "required": True,
        }
    },
}

_DESCRIPTIONS = {
    400: "The body is not valid JSON (`bad_request`).",
    401: "Missing, expired, forged or revoked token, or wrong credentials (`unauthorized`).",
    403: "The caller's role may not do this (`forbidden`).",
    404: "No such object, or it belongs to someone else (`not_found`).",
    405: "Method not allowed here (`method_not_allowed`); see `Allow`.",
    409: "The object's state does not allow this (`conflict`).",
    413: "The body is too large (`payload_too_large`).",
    422: "Some fields are wrong; details per field under `fields` (`validation_error`).",
    429: "Too many attempts (`rate_limited`); see `Retry-After`.",
    500: "Something failed on the server (`internal_error`); nothing was saved.",
}


class ErrorDetailSchema(ma.Schema):
    """What went wrong."""

    code = ma.fields.String(
        required=True, metadata={"description": "Machine-readable code, e.g. `not_found`."}
    )
    message = ma.fields.String(required=True, metadata={"description": "A human sentence."})
    fields = ma.fields.Dict(
        keys=ma.fields.String(),
        values=ma.fields.List(ma.fields.String()),
        metadata={"description": "Messages per input field, only when input fields were wrong."},
    )


class ErrorSchema(ma.Schema):
    """The one error body of the API, for every status code."""

    error = ma.fields.Nested(ErrorDetailSchema, required=True)


class Api(flask_smorest.Api):
    """flask-smorest with the contract's error shape in the handler and in the document."""

    ERROR_SCHEMA = ErrorSchema

    def handle_http_exception(self, error):
        return http_error(error)

    def _register_responses(self):
        for status in http.HTTPStatus:
            response = {"description": _DESCRIPTIONS.get(status.value, status.phrase)}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            if status.value in _ERROR_HEADERS:
                response["headers"] = _ERROR_HEADERS[status.value]
            prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        response = {"description": "Any other error, same shape.", "schema": self.ERROR_SCHEMA}
        prepare_response(response, self.spec, self.DEFAULT_RESPONSE_CONTENT_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, response, lazy=True)


class Blueprint(flask_smorest.Blueprint):
    """A smorest Blueprint with ``errors(...)`` and ``authenticated`` decorators."""

    def arguments(self, schema, *, location="json", required=True, **kwargs):
        """Like smorest's, but a required JSON body must be there and be JSON (else 400):
        webargs alone would read a missing or non-JSON body as ``{}``."""
        parse = super().arguments(schema, location=location, required=required, **kwargs)
        if location != "json" or not required:
            return parse

        def decorator(func):
            parsed = parse(func)

            @wraps(parsed)
            def wrapper(*args, **kw):
                if not request.is_json or not request.get_data(cache=True):
                    raise BadRequest("Send a JSON body with Content-Type: application/json.")
                return parsed(*args, **kw)

            return wrapper

        return decorator

    def errors(self, *codes: int):
        """Document the error responses (contract shape) an endpoint can answer."""

        def decorator(func):
            for code in codes:
                func = _doc_only(self.alt_response(code, response=http.HTTPStatus(code).name), func)
            return func

        return decorator

    def authenticated(self, func):
        """Require a valid bearer access token; the user is then ``caller()``."""

        @wraps(func)
        def wrapper(*args, **kwargs):
            g.api_user = tokens.user_for_access_token(bearer_token())
            return func(*args, **kwargs)

        return self.bearer(wrapper)

    def bearer(self, func):
        """Document that an endpoint takes a bearer access token and answers 401 without a
        good one: ``authenticated`` does, and a view that checks ``bearer_token()`` itself."""
        func = _doc_only(self.doc(security=[{BEARER: []}]), func)
        return self.errors(401)(func)


def _doc_only(decorator, func):
    """Apply a smorest decorator that only documents (``alt_response``, ``doc``) without the
    pass-through wrapper it adds: the document goes on ``func`` itself (smorest reads it from
    the function when the route is registered), and no call goes through an extra frame and
    ``ensure_sync`` for it."""
    func._apidoc = decorator(func)._apidoc
    return func


def bearer_token() -> str:
    """The request's bearer token; raise InvalidToken (401) when there is none."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise tokens.InvalidToken("Send an access token: Authorization: Bearer <token>.")
    return token


def caller():
    """The authenticated user of this API request."""
    return g.api_user
