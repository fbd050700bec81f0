"""A real browser through the back office: assign, start the repair, reserve a part, and
watch the dashboard change. Runs against a live server on 127.0.0.1 with the real CSP."""

from __future__ import annotations

import os
import threading

import pytest
from werkzeug.serving import make_server

from fixmyphone.extensions import db
from tests import factories
from tests.conftest import clean_database, make_app

CHROMIUM = "/usr/bin/chromium"
pytestmark = pytest.mark.browser


def _need_chromium():
    if not os.path.exists(CHROMIUM):
        reason = f"{CHROMIUM} is not installed (apt-get install chromium)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason + "; under CI=true this test must run")
        pytest.skip(reason)


@pytest.fixture
def live_server(tmp_path):
    """The app served by werkzeug in a thread, on its own SQLite file."""
    app = make_app(f"sqlite:///{tmp_path / 'live.db'}", tmp_path)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)
        clean_database(app)


@pytest.fixture
def browser_page():
    _need_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        page = browser.new_page()
        page.set_default_timeout(15000)
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        # The production CSP is on: any violation (an inline handler, a javascript: link) fails.
        page.on(
            "console",
            lambda msg: (
                errors.append(msg.text)
                if msg.type == "error" and "Content Security Policy" in msg.text
                else None
            ),
        )
        yield page, errors
        browser.close()


def test_admin_assigns_starts_repair_reserves_part_and_dashboard_updates(live_server, browser_page):
    app, base = live_server
    page, errors = browser_page
    with app.app_context():
        admin = factories.UserFactory(role="admin", full_name="Ada Admin")
        factories.TechnicianFactory(full_name="Tom Tech")
        req = factories.ServiceRequestFactory(brand="Apple", model="iPhone 13")
        factories.PartFactory(sku="SCR-13", name="iPhone 13 screen", on_hand=3, reorder_level=1)
        db.session.commit()
        email, request_id = admin.email, req.id
        db.session.remove()

    page.goto(f"{base}/admin/")
    assert "/account/login" in page.url
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.goto(f"{base}/admin/")
    assert page.locator("#dashboard").is_visible()
    assert page.locator("#dash-low-stock").inner_text() == "0"
    assert page.locator("#dash-status a[data-status=in_progress]").count() == 0

    # Assign a technician with the bulk action from the list.
    page.goto(f"{base}/admin/requests/")
    page.check(f"input.action-checkbox[value='{request_id}']")
    page.click("text=With selected")
    page.click("a[data-action=assign]")
    page.select_option("select[name=technician_id]", label="Tom Tech")
    page.click("button[type=submit]:has-text('Apply')")
    page.wait_for_url(f"{base}/admin/requests/**")
    assert "Assigned: 1 of 1" in page.content()

    # Move it to In Progress on the request page.
    page.goto(f"{base}/admin/requests/view/{request_id}")
    assert page.locator("#request-technician").inner_text() == "Tom Tech"
    page.select_option("#status-select", "in_progress")
    page.click("#status-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator("#request-status").inner_text() == "In Progress"

    # Reserve two screens: only one is left available, at the reorder level.
    page.select_option("#part-select", label="SCR-13 iPhone 13 screen (3 available)")
    page.fill("#reserve-form input[name=quantity]", "2")
    page.click("#reserve-form button[type=submit]")
    page.wait_for_load_state()
    assert "reserved" in page.locator("#parts-table").inner_text()

    # The dashboard shows the change.
    page.goto(f"{base}/admin/")
    status_link = page.locator("#dash-status a[data-status=in_progress]")
    assert status_link.count() == 1
    assert status_link.locator("xpath=..").locator(".count").inner_text() == "1"
    assert page.locator("#dash-low-stock").inner_text() == "1"
    assert "SCR-13" in page.locator("#dash-low-stock-list").inner_text()
    assert not errors, errors
