"""Error handlers: the contract's JSON error shape under /api, friendly pages elsewhere."""

from __future__ import annotations

import logging
import math
import time
from typing import Optional

from flask import Flask, jsonify, render_template, request
from sqlalchemy.exc import DataError, StatementError
from werkzeug.exceptions import BadRequest, HTTPException

from .domain_errors import DomainError
from .extensions import db, limiter
from .observability import loggable_path

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


def error_response(
    status: int,
    message: str,
    *,
    code: Optional[str] = None,
    fields: Optional[dict] = None,
    headers: Optional[dict] = None,
):
    """The one JSON error body: ``{"error": {"code", "message", "fields"?}}``."""
    body: dict = {"code": code or CODES.get(status, "error"), "message": message}
    if fields:
        body["fields"] = fields
    response = jsonify(error=body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_json() -> bool:
    """API paths always answer JSON."""
    return request.path == "/api" or request.path.startswith("/api/")


def http_error(exc: HTTPException):
    status = exc.code or 500
    if status >= 500:
        db.session.rollback()
    if wants_json():
        headers = {}
        for key in ("Allow", "Retry-After", "WWW-Authenticate"):
            value = exc.get_headers() and dict(exc.get_headers()).get(key)
            if value:
                headers[key] = value
        if status == 429 and "Retry-After" not in headers:
            headers["Retry-After"] = _retry_after(exc)
        data = getattr(exc, "data", None)
        messages = data.get("messages") if isinstance(data, dict) else None
        fields = _flatten_fields(messages)
        message = exc.description or exc.name
        if status == 429:
            message = "Too many requests; try again later."
        elif status == 400 and messages is not None:
            # webargs: the body could not be parsed as JSON.
            message, fields = "The request body is not valid JSON.", None
        elif status == 422:
            message = "Some fields need attention."
            schema_errors = (fields or {}).pop("_schema", None)
            if schema_errors:
                message = "The request body must be a JSON object."
        elif status == 401:
            headers.setdefault("WWW-Authenticate", "Bearer")
        return error_response(status, message, fields=fields or None, headers=headers)
    template = f"errors/{status}.html" if status in (403, 404, 429, 500) else "errors/generic.html"
    headers = {}
    if status == 429:
        headers["Retry-After"] = dict(exc.get_headers()).get("Retry-After") or _retry_after(exc)
    return render_template(template, error=exc, status=status), status, headers


def _retry_after(exc: HTTPException) -> str:
    """Seconds until the limit that refused this request lets the client in again."""
    try:
        current = limiter.current_limit
        if current is not None:
            return str(max(1, math.ceil(current.reset_at - time.time())))
        limit = getattr(exc, "limit", None)
        return str(int(limit.limit.get_expiry())) if limit else "60"
    except Exception:  # noqa: BLE001 - a header must never turn a 429 into a 500
        return "60"


def _flatten_fields(messages) -> Optional[dict]:
    """Marshmallow puts errors under a location key ('json', 'query'); clients want field names."""
    if not messages:
        return None
    flat: dict = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            for field, msgs in errors.items():
                flat[field] = _as_list(msgs)
        else:
            flat[location] = _as_list(errors)
    return flat


def _as_list(msgs) -> list:
    if isinstance(msgs, list):
        return [m if isinstance(m, str) else str(m) for m in msgs]
    if isinstance(msgs, dict):
        return [f"{k}: {', '.join(_as_list(v))}" for k, v in msgs.items()]
    return [str(msgs)]


def _domain_error(exc: DomainError):
    db.session.rollback()
    headers = {}
    if exc.status == 429:
        headers["Retry-After"] = str(getattr(exc, "retry_after", None) or 60)
    if wants_json():
        if exc.status == 401:
            headers["WWW-Authenticate"] = "Bearer"
        return error_response(
            exc.status, exc.message, code=exc.code, fields=exc.fields, headers=headers
        )
    template = "errors/429.html" if exc.status == 429 else "errors/generic.html"
    return render_template(template, error=exc, status=exc.status), exc.status, headers


def _unexpected(exc: Exception):
    db.session.rollback()
    log.exception("unhandled error on %s %s", request.method, loggable_path(request.path))
    if wants_json():
        return error_response(500, "Something went wrong on our side; nothing was saved.")
    return render_template("errors/500.html", status=500), 500


def _bad_value(exc: Exception):
    """A value the database (or a date or number computation) cannot take is bad input: 400,
    not 500. PostgreSQL raises DataError for a NUL, an integer out of range or a malformed
    number; SQLite (and Python arithmetic) raise OverflowError for an integer past 64 bits."""
    db.session.rollback()
    log.warning(
        "refused a value out of range on %s %s: %s",
        request.method,
        loggable_path(request.path),
        type(getattr(exc, "orig", None) or exc).__name__,
    )
    return http_error(BadRequest("A value in the request is out of range or not allowed."))


def _database_error(exc: StatementError):
    """DataError is bad input (see _bad_value); anything else (the database is down, a broken
    query) stays a 500."""
    if isinstance(exc, DataError) or isinstance(exc.orig, OverflowError):
        return _bad_value(exc)
    return _unexpected(exc)


def init_errors(app: Flask) -> None:
    """Install the handlers."""
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(DomainError, _domain_error)
    app.register_error_handler(StatementError, _database_error)
    app.register_error_handler(OverflowError, _bad_value)
    app.register_error_handler(Exception, _unexpected)
