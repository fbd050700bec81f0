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

from .domain_errors import ValidationFailed
from .errors import wants_json
from .extensions import limiter

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
    return _CSP_TEMPLATE.format(nonce=nonce)


_CSP_TEMPLATE = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'nonce-{nonce}'",
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
# Every response carries these unless its view set its own (with the lower-cased name).
_STATIC_HEADERS = tuple(
    (name.lower(), name, value)
    for name, value in (
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "strict-origin-when-cross-origin"),
        ("X-Frame-Options", "DENY"),
        ("Permissions-Policy", "camera=(), microphone=(), geolocation=()"),
    )
)
_HSTS = ("Strict-Transport-Security", "max-age=31536000; includeSubDomains")


def _security_headers(response):
    # One look at the headers the view set, then plain appends: every response pays for this.
    headers = response.headers
    present = {key.lower() for key, _ in headers.items()}
    for lowered, name, value in _STATIC_HEADERS:
        if lowered not in present:
            headers.add(name, value)
    if "content-security-policy" not in present:
        headers.add("Content-Security-Policy", content_security_policy(csp_nonce()))
    if request.is_secure and "strict-transport-security" not in present:
        headers.add(*_HSTS)
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


def _drop_idle_rate_limit_check(app: Flask) -> None:
    """Flask-Limiter looks for app-wide limits (default, application, blueprint, meta and
    storage-fallback limits) in a hook before every request; a route's own ``@limiter.limit``
    is checked by its decorator either way. FixMyPhone limits routes only, so while no
    app-wide limit is declared the hook, which finds nothing at 0.07 ms of CPU a request, is
    left out. Any app-wide limit (or a Flask-Limiter whose insides differ) keeps it."""
    manager = limiter.limit_manager
    app_wide = (
        manager.default_limits,
        manager.application_limits,
        getattr(manager, "_blueprint_limits", True),
        getattr(limiter, "_meta_limits", True),
        getattr(limiter, "_in_memory_fallback", True),
    )
    if any(app_wide):
        return
    check = getattr(limiter, "_check_request_limit", None)
    hooks = app.before_request_funcs.get(None, [])
    hooks[:] = [hook for hook in hooks if hook != check]


def init_security(app: Flask) -> None:
    """Trust ``PROXY_COUNT`` reverse proxies' X-Forwarded-* headers (none by default), guard the
    input, add the security headers, and run the rate limiter only where there are limits."""
    proxies = app.config["PROXY_COUNT"]
    if proxies:
        # The client address (rate limits, logs) is the one the last trusted proxy saw.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.before_request(reject_bad_input)
    _refuse_split_headers(app)
    app.after_request(_security_headers)
    _drop_idle_rate_limit_check(app)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    for admin in app.extensions.get("admin", []):
        admin.csp_nonce_generator = csp_nonce
