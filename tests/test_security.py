"""Hardening: security headers, a CSP the templates can satisfy, request ids, no secrets logged."""

import logging
import re
from pathlib import Path

import pytest

from fixmyphone.extensions import db
from fixmyphone.observability import JsonFormatter, redact

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

PAGES = ["/", "/account/login", "/account/register", "/account/forgot", "/healthz"]


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_main_pages(client, path):
    response = client.get(path)
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    assert "Strict-Transport-Security" not in response.headers  # plain HTTP


def test_hsts_and_secure_scheme_behind_an_https_proxy(client):
    response = client.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_admin_pages_carry_a_nonce_for_flask_admins_own_scripts(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
    html = response.get_data(as_text=True)
    for tag in re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", html):
        assert f'nonce="{nonce}"' in tag, tag


def _template_files():
    # Emails are not served under the CSP (mail clients need inline styles).
    return sorted(
        p for p in TEMPLATES.rglob("*.html") if "email" not in p.relative_to(TEMPLATES).parts
    )


@pytest.mark.parametrize("path", _template_files(), ids=lambda p: str(p.relative_to(TEMPLATES)))
def test_templates_have_no_inline_code_the_csp_would_block(path):
    html = path.read_text()
    inline_scripts = [
        tag
        for tag in re.findall(r"<script\b[^>]*>", html)
        if "src=" not in tag and "nonce" not in tag and "application/json" not in tag
    ]
    assert inline_scripts == []
    assert not re.search(r"\son[a-z]+\s*=\s*[\"']", html), "inline event handler"
    assert not re.search(r"\sstyle\s*=\s*[\"']", html), "style attribute"
    assert "<style" not in html or "nonce" in html


def test_every_response_has_a_request_id_and_keeps_a_sane_incoming_one(client):
    generated = client.get("/healthz").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    assert (
        client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"]
        == "abc-123"
    )
    odd = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert odd != "<script>"


def test_json_logs_carry_the_request_id_and_hide_secrets():
    record = logging.LogRecord(
        "fixmyphone.test",
        logging.INFO,
        __file__,
        1,
        "login password=hunter22 key sk_test_abcdefghijkl",
        None,
        None,
    )
    record.request_id = "rid-1"
    line = JsonFormatter().format(record)
    assert '"request_id": "rid-1"' in line
    assert "hunter22" not in line and "sk_test_abcdefghijkl" not in line
    assert redact("Authorization: Bearer abc.def") != "Authorization: Bearer abc.def"


def test_session_cookie_flags(client, customer):
    db.session.commit()
    response = client.get("/account/login")
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
