"""HTTP hardening: security headers with a nonce-based Content-Security-Policy, ProxyFix, and
one guard against input no view should see (NUL characters, ids past the integer range)."""

from __future__ import annotations

import json
import re
import secrets
from typing import Optional
from urllib.parse import urlsplit

from flask import Flask, abort, g, request
from werkzeug.exceptions import BadRequest
from werkzeug.middleware.proxy_fix import ProxyFix

from .errors import wants_json
from .services.errors import ValidationFailed

# Ids and counts are INTEGER columns: a URL number past this names nothing.
MAX_DB_INTEGER = 2**31 - 1
NUL_MESSAGE = "Must not contain NUL characters."
_FORM_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data"}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def safe_next(default: str) -> str:
    """The ``next`` target if it is a path on this site, else ``default``.

    Refused: other sites (``//host``, ``https://host``), a backslash (browsers read ``/\\host``
    as ``//host``), and control characters or spaces (a CR/LF would split the Location header).
    """
    target = request.values.get("next") or ""
    if not target.startswith("/") or target.startswith("//") or not target.isprintable():
        return default
    if "\\" in target or " " in target or urlsplit(target).netloc:
        return default
    return target


def _has_nul(value) -> bool:
    """True when a decoded JSON value holds a NUL in any string, key or nested item."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


def _json_nul_fields() -> Optional[dict]:
    """The top-level fields of a JSON body that hold a NUL, or None when there is none."""
    raw = request.get_data(cache=True)
    if b"\\u0000" not in raw and b"\x00" not in raw:  # the cheap look first
        return None
    try:
        body = json.loads(raw)
    except ValueError:
        return None  # not JSON at all: the view answers that
    if isinstance(body, dict):
        fields = {
            str(k).replace("\x00", "?"): [NUL_MESSAGE]
            for k, v in body.items()
            if _has_nul(k) or _has_nul(v)
        }
        return fields or None
    return {"_body": [NUL_MESSAGE]} if _has_nul(body) else None


def _query_nul_fields() -> dict:
    return {
        key.replace("\x00", "?"): [NUL_MESSAGE]
        for key, value in request.args.items(multi=True)
        if "\x00" in key or "\x00" in value
    }


def reject_bad_input():
    """Refuse, before any view runs, input that no view should have to handle: a NUL in the
    path, the query string, a form field or file name (400) or a JSON body (422, naming the
    fields), and an id in the URL past the database's integer range (404: it names nothing).
    PostgreSQL cannot store a NUL and raises on an out-of-range integer.

    Under /api a NUL in the query string is a malformed value like any other: 422 naming the
    parameters, as the API's documents promise for its query parameters."""
    if "\x00" in request.path:
        raise BadRequest("The address contains a NUL character.")
    if b"%00" in request.query_string or b"\x00" in request.query_string:
        if wants_json() and (fields := _query_nul_fields()):
            raise ValidationFailed("Some fields need attention.", fields=fields)
        raise BadRequest("The address contains a NUL character.")
    if request.mimetype in _FORM_TYPES:
        for key, value in request.form.items(multi=True):
            if "\x00" in key or "\x00" in value:
                raise BadRequest("A form field contains a NUL character.")
        for key, upload in request.files.items(multi=True):
            if "\x00" in key or "\x00" in (upload.filename or ""):
                raise BadRequest("A file name contains a NUL character.")
    elif request.is_json and (fields := _json_nul_fields()):
        raise ValidationFailed("Some fields need attention.", fields=fields)
    for value in (request.view_args or {}).values():
        if isinstance(value, int) and not -MAX_DB_INTEGER <= value <= MAX_DB_INTEGER:
            abort(404)


def csp_nonce() -> str:
    """A per-request nonce for the few inline scripts libraries render (Flask-Admin)."""
    nonce = g.get("csp_nonce")
    if nonce is None:
        nonce = g.csp_nonce = secrets.token_urlsafe(16)
    return nonce


def content_security_policy(nonce: str) -> str:
    """The policy every page must satisfy: our own scripts and styles only, no inline code."""
    return "; ".join(
        [
            "default-src 'self'",
            f"script-src 'self' 'nonce-{nonce}'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' data:",
            "font-src 'self' data:",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'self'",
            "frame-ancestors 'none'",
            # Checkout forms post here and are redirected to Stripe's hosted page.
            "form-action 'self' https://checkout.stripe.com",
        ]
    )


def _security_headers(response):
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = content_security_policy(csp_nonce())
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
    return response


def _refuse_split_headers(app: Flask) -> None:
    """Every redirect (ours, Flask-Login's, Flask-Admin's ``url=``) refuses a target with control
    characters with a 400: a CR/LF would otherwise split the Location header (a 500 at best)."""
    plain_redirect = app.redirect

    def redirect(location: str, code: int = 302):
        if _CONTROL.search(location):
            raise BadRequest("The address to go back to is not valid.")
        return plain_redirect(location, code)

    app.redirect = redirect  # type: ignore[method-assign]


def init_security(app: Flask) -> None:
    """Trust ``PROXY_COUNT`` reverse proxies' X-Forwarded-* headers (none by default) and add
    the security headers."""
    proxies = app.config["PROXY_COUNT"]
    if proxies:
        # The client address (rate limits, logs) is the one the last trusted proxy saw.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.before_request(reject_bad_input)
    _refuse_split_headers(app)
    app.after_request(_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    for admin in app.extensions.get("admin", []):
        admin.csp_nonce_generator = csp_nonce
