"""The docs page really renders in Chromium under its CSP (no violations, no CDN)."""

from __future__ import annotations

import os
import shutil
import threading

import pytest
from werkzeug.serving import make_server

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.mark.browser
def test_swagger_ui_renders_every_operation(app):
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    problems: list[str] = []
    outside: list[str] = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            page = browser.new_page()
            page.on("console", lambda m: m.type == "error" and problems.append(m.text))
            page.on(
                "request",
                lambda r: (
                    r.url.startswith(f"http://127.0.0.1:{server.server_port}/")
                    or r.url.startswith("data:")
                    or outside.append(r.url)
                ),
            )
            page.goto(f"http://127.0.0.1:{server.server_port}/api/docs")
            page.wait_for_selector(".opblock", timeout=20_000)
            assert page.locator(".opblock").count() >= 17
            assert "FixMyPhone API" in page.locator(".info .title").first.inner_text()
            browser.close()
    finally:
        server.shutdown()
    assert problems == []
    assert outside == []
