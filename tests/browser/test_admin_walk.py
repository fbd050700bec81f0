"""A real browser through the back office: assign with the bulk action, start the repair,
reserve a part, and watch the dashboard change (the real CSP on; any console error fails)."""

from __future__ import annotations

import pytest

from fixmyphone.extensions import db

from .. import factories
from .conftest import log_in

pytestmark = pytest.mark.browser


def test_admin_assigns_starts_repair_reserves_part_and_dashboard_updates(live_server, shop_page):
    page, base = shop_page, live_server.base_url
    with live_server.app_context():
        admin = factories.UserFactory(role="admin", full_name="Ada Admin")
        factories.TechnicianFactory(full_name="Tom Tech")
        req = factories.ServiceRequestFactory(brand="Apple", model="iPhone 13")
        factories.PartFactory(sku="SCR-13", name="iPhone 13 screen", on_hand=3, reorder_level=1)
        db.session.commit()
        email, request_id = admin.email, req.id
        db.session.remove()

    page.goto(f"{base}/admin/")
    assert "/account/login" in page.url  # the back office asks who you are first
    log_in(page, base, email)
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
    assert not page.problems, page.problems
