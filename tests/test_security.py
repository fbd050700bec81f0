"""Hardening: security headers, a CSP the templates can satisfy, request ids, no secrets logged."""

import logging
import re
from pathlib import Path

import pytest

from fixmyphone.extensions import db
from fixmyphone.observability import JsonFormatter, redact

from .conftest import make_app

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"

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


def test_hsts_and_secure_scheme_behind_an_https_proxy(database_url, tmp_path):
    proxied = make_app(database_url, tmp_path, PROXY_COUNT=1).test_client()
    response = proxied.get("/", headers={"X-Forwarded-Proto": "https"})
    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


def test_with_no_proxy_configured_forwarded_headers_are_ignored(client):
    """PROXY_COUNT defaults to 0: anyone can send X-Forwarded-*, so nothing trusts them."""
    response = client.get(
        "/", headers={"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.9"}
    )
    assert "Strict-Transport-Security" not in response.headers
    assert client.application.config["PROXY_COUNT"] == 0


def test_gunicorn_binds_the_loopback_unless_told_otherwise(monkeypatch):
    import runpy

    monkeypatch.delenv("GUNICORN_BIND", raising=False)
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == "127.0.0.1:8000"
    monkeypatch.setenv("GUNICORN_BIND", "0.0.0.0:9000")
    assert runpy.run_path(str(ROOT / "gunicorn.conf.py"))["bind"] == "0.0.0.0:9000"


def test_deploy_files_behind_nginx_trust_one_proxy_and_listen_for_it():
    """The compose file puts nginx in front of gunicorn: web must listen beyond its loopback
    and trust exactly that one proxy; the systemd unit sits behind a local nginx."""
    compose = (ROOT / "deploy" / "docker-compose.yml").read_text()
    web = compose.split("\n  web:\n", 1)[1].split("\n  worker:\n", 1)[0]
    assert 'PROXY_COUNT: "1"' in web and 'GUNICORN_BIND: "0.0.0.0:8000"' in web
    unit = (ROOT / "deploy" / "systemd" / "fixmyphone-web.service").read_text()
    assert "Environment=PROXY_COUNT=1" in unit


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
