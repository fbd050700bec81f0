"""Hardening: security headers, a CSP the templates can satisfy, request ids, no secrets logged."""

import logging
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote

import pytest

from fixmyphone.extensions import db
from fixmyphone.observability import JsonFormatter, redact, redact_url

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


# ---------------------------------------------------------------- tokens never reach access logs

SECRET = "SeCrEtToKeN0123456789abcdef"


def _token_rules(app):
    """Every route whose URL carries a credential (an argument named like a token)."""
    return [
        rule for rule in app.url_map.iter_rules() if any("token" in name for name in rule.arguments)
    ]


# URL arguments that are not credentials. A new text argument must be added here or be named
# like a token (and so be redacted from the access logs): this test makes someone decide.
PUBLIC_URL_ARGUMENTS = {"export_type", "report", "kind", "op", "filename"}


def test_every_text_argument_in_a_url_is_either_public_or_a_redacted_token(app):
    for rule in app.url_map.iter_rules():
        for name, converter in rule._converters.items():
            if type(converter).__name__ in {"IntegerConverter", "IdConverter"}:
                continue
            assert "token" in name or name in PUBLIC_URL_ARGUMENTS, (rule.rule, name)


def test_the_redaction_covers_every_route_with_a_token_in_its_url(app):
    rules = _token_rules(app)
    assert {r.endpoint for r in rules} >= {"auth.reset_password", "public.track_token"}
    adapter = app.url_map.bind("shop.test")
    for rule in rules:
        values = {name: SECRET if "token" in name else 1 for name in rule.arguments}
        path = adapter.build(rule.endpoint, values, method=sorted(rule.methods)[0])
        assert SECRET in path
        assert SECRET not in redact_url(path), rule.rule
        assert "<redacted>" in redact_url(path)
        # ... also when it rides in another URL's query string, encoded or not.
        assert SECRET not in redact_url(f"/pay/1/return?next={quote(path, safe='')}")
        assert SECRET not in redact_url(f"/account/login?next={path}")
    assert redact_url(f"/account/login?token={SECRET}&x=1") == "/account/login?token=<redacted>&x=1"
    assert redact_url("/track") == "/track"


def test_the_apps_access_log_writes_token_paths_redacted(app, client, caplog):
    caplog.set_level(logging.INFO, logger="fixmyphone.access")
    adapter = app.url_map.bind("shop.test")
    for rule in _token_rules(app):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            values = {name: SECRET if "token" in name else 1 for name in rule.arguments}
            client.open(adapter.build(rule.endpoint, values, method=method), method=method)
    forged = "/track/" + SECRET + "\r\n2026-01-01 INFO forged line"
    assert client.get("/", environ_overrides={"PATH_INFO": forged}).status_code == 404
    access = [r for r in caplog.records if r.name == "fixmyphone.access"]
    assert len(access) >= 4
    for record in access:
        assert SECRET not in record.getMessage() and SECRET not in record.path
        assert "\n" not in record.getMessage()
    assert any(r.path == "/account/reset/<redacted>" for r in access)
    assert any(r.path.startswith("/track/<redacted>") for r in access)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_gunicorns_access_log_writes_token_urls_redacted(tmp_path):
    """A real gunicorn with gunicorn.conf.py: its access log and the app's JSON log lines."""
    venv = Path(sys.executable).parent
    env = {
        **os.environ,
        "FIXMYPHONE_CONFIG": "development",
        "FIXMYPHONE_INSTANCE": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'shop.db'}",
        "SECRET_KEY": "gunicorn-log-test",
        "LOG_JSON": "true",
        "GUNICORN_WORKERS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    env.pop("REDIS_URL", None)
    subprocess.run(
        [str(venv / "flask"), "--app", "app", "db", "upgrade"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    port = _free_port()
    env["GUNICORN_BIND"] = f"127.0.0.1:{port}"
    log_path = tmp_path / "gunicorn.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [str(venv / "gunicorn"), "-c", "gunicorn.conf.py", "app:app"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
                time.sleep(0.2)
        for path, headers in (
            (f"/account/reset/{SECRET}", {}),
            (f"/track/{SECRET}", {}),
            (f"/healthz?token={SECRET}", {"Referer": f"{base}/track/{SECRET}"}),
        ):
            request = urllib.request.Request(base + path, headers=headers)
            try:
                urllib.request.urlopen(request, timeout=10)
            except urllib.error.HTTPError:
                pass  # 404 for a token that names nothing: only the log line matters
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    output = log_path.read_text()
    assert "GET /account/reset/<redacted> HTTP/1.1" in output  # gunicorn's request line
    assert '"path": "/track/<redacted>"' in output  # the app's own JSON line
    assert "/healthz?token=<redacted>" in output
    assert f"{base}/track/<redacted>" in output  # the referer
    assert SECRET not in output


def test_the_development_servers_request_lines_are_redacted(app):
    record = logging.LogRecord(
        "werkzeug",
        logging.INFO,
        __file__,
        1,
        '%s - - "%s" %s',
        ("127.0.0.1", f"GET /track/{SECRET} HTTP/1.1", "200"),
        None,
    )
    for log_filter in logging.getLogger("werkzeug").filters:
        log_filter.filter(record)
    assert record.getMessage() == '127.0.0.1 - - "GET /track/<redacted> HTTP/1.1" 200'
