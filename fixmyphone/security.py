"""HTTP hardening: security headers with a nonce-based Content-Security-Policy, ProxyFix."""

from __future__ import annotations

import secrets

from flask import Flask, g, request
from werkzeug.middleware.proxy_fix import ProxyFix


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


def init_security(app: Flask) -> None:
    """Trust ``PROXY_COUNT`` reverse proxies' X-Forwarded-* headers (none by default) and add
    the security headers."""
    proxies = app.config.get("PROXY_COUNT", 0)
    if proxies:
        # The client address (rate limits, logs) is the one the last trusted proxy saw.
        app.wsgi_app = ProxyFix(
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies
        )
    app.after_request(_security_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    for admin in app.extensions.get("admin", []):
        admin.csp_nonce_generator = csp_nonce
