"""The back office in a real browser, as each staff role sees it on a desk and on a phone.

For an admin, a technician and a super admin, at 1280×800 and 390×844, on the demo shop: the
dashboard and every page the menu offers load without console errors or CSP violations and
never make the page scroll sideways; at 1280 px the navbar is one row and every dropdown opens
inside the window; at 390 px the menu folds behind its button; the user menu shows the
person's name, role and Log out, and Log out ends the session.

Screenshots of every page go to test-artifacts/backoffice/ (to look at, as a shop would).
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from fixmyphone.extensions import db
from fixmyphone.models import Appointment, OpeningHours, ServiceRequest, User

from .conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.browser

PASSWORD = "demo1234"
PEOPLE = {
    # role: (email, the name the user menu shows, the role's label)
    "admin": ("admin@fixmyphone.example", "Adam Admin", "Admin"),
    "technician": ("tech1@fixmyphone.example", "Tom Tech", "Technician"),
    # A long name: the navbar must still fit on one row.
    "superadmin": ("owner@fixmyphone.example", "Maximiliana Featherstonehaugh", "Super admin"),
}
SIZES = {"1280x800": (1280, 800), "390x844": (390, 844)}
SHOTS = ARTIFACTS / "backoffice"


@pytest.fixture
def demo_shop(live_server):
    """The demo shop, plus drop-offs today for every technician (one with a long name)."""
    from fixmyphone.seed import seed

    with live_server.app_context():
        db.session.execute(sa.delete(OpeningHours))  # the demo shop brings its own
        seed()
        owner = db.session.scalar(sa.select(User).where(User.email == PEOPLE["superadmin"][0]))
        owner.full_name = PEOPLE["superadmin"][1]
        tz = ZoneInfo(live_server.config["SHOP_TIMEZONE"])
        today = datetime.now(tz).date()
        technicians = db.session.scalars(
            sa.select(User).where(User.role == "technician").order_by(User.id)
        ).all()
        requests = db.session.scalars(
            sa.select(ServiceRequest)
            .where(
                ServiceRequest.status.in_(("pending", "scheduled")),
                ~ServiceRequest.appointments.any(),
            )
            .order_by(ServiceRequest.id)
            .limit(6)
        ).all()
        for i, request in enumerate(requests):
            request.technician_id = technicians[i % len(technicians)].id
            if i == 0:
                request.customer.full_name = "Bartholomew Wolfeschlegelsteinhausen"
            local = datetime.combine(today, time(9 + i, 30), tzinfo=tz)
            start = local.astimezone(ZoneInfo("UTC"))
            db.session.add(
                Appointment(
                    service_request_id=request.id,
                    customer_id=request.customer_id,
                    technician_id=request.technician_id,
                    start=start,
                    end=start + timedelta(minutes=30),
                    seat=1,
                )
            )
        db.session.commit()
        db.session.remove()
    return live_server


def _menu_pages(page) -> list[str]:
    """Every page the menu offers (top-level links and the entries of each dropdown)."""
    hrefs = page.eval_on_selector_all(
        "#admin-menu a.nav-link:not(.dropdown-toggle), #admin-menu a.dropdown-item",
        "els => els.map(e => e.getAttribute('href'))",
    )
    return list(dict.fromkeys(hrefs))


def _page_width(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _open_menu(page) -> None:
    """Unfold the phone-width menu and wait for its animation to end."""
    page.locator(".navbar-toggler").click()
    expect(page.locator("#admin-navbar-collapse")).to_have_class(
        re.compile(r"\bcollapse\b.*\bshow\b")
    )


def _check_navbar(page, wide: bool) -> None:
    navbar = page.locator("nav.fmp-navbar")
    if wide:
        # One row: every entry, the bell and the user menu share the first line.
        box = navbar.bounding_box()
        assert box["height"] <= 64, f"navbar is {box['height']} px high: it wrapped"
        tops = page.eval_on_selector_all(
            "#admin-navbar-collapse > ul > li",
            "els => els.map(e => Math.round(e.getBoundingClientRect().top))",
        )
        assert max(tops) - min(tops) <= 12, tops
        assert page.evaluate(
            "(() => { const c = document.querySelector('#admin-navbar-collapse');"
            " return c.scrollWidth <= c.clientWidth + 1; })()"
        ), "the menu is wider than its bar"
        expect(page.locator(".navbar-toggler")).to_be_hidden()
    else:
        expect(page.locator(".navbar-toggler")).to_be_visible()
        expect(page.locator("#admin-menu")).to_be_hidden()


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("role", PEOPLE)
def test_back_office_fits_and_logs_out(demo_shop, shop_page, role, size):
    page, base = shop_page, demo_shop.base_url
    width, height = SIZES[size]
    wide = width >= 1200
    email, name, role_label = PEOPLE[role]
    page.set_viewport_size({"width": width, "height": height})
    log_in(page, base, email, PASSWORD)
    page.wait_for_url(re.compile(r"/admin/$"))

    # The dashboard first: what the person opens every morning.
    expect(page.locator("#dashboard")).to_be_visible()
    expect(page.locator("#dash-today")).to_be_visible()
    _check_navbar(page, wide)
    scroll_width, inner = _page_width(page)
    assert scroll_width <= inner, f"dashboard is {scroll_width} px wide in {inner}"
    _shot(page, f"{role}-{size}-dashboard")

    # At phone width the menu opens from its button, and lists the same pages.
    if not wide:
        _open_menu(page)
        expect(page.locator("#admin-menu")).to_be_visible()
        _shot(page, f"{role}-{size}-menu-open")
        assert _page_width(page)[0] <= inner
    else:
        # Each dropdown opens inside the window.
        for toggle in page.locator("#admin-menu .dropdown-toggle").all():
            toggle.click()
            menu = toggle.locator("xpath=following-sibling::div[contains(@class,'dropdown-menu')]")
            expect(menu).to_be_visible()
            box = menu.bounding_box()
            assert box["x"] >= 0 and box["x"] + box["width"] <= width, (toggle.inner_text(), box)
            page.keyboard.press("Escape")

    pages = _menu_pages(page)
    assert len(pages) >= (3 if role == "technician" else 12), pages
    for path in pages:
        response = page.goto(base + path)
        assert response.status == 200, (path, response.status)
        scroll_width, inner = _page_width(page)
        slug = path.strip("/").replace("/", "-")
        _shot(page, f"{role}-{size}-{slug}")
        assert scroll_width <= inner, f"{path}: the page is {scroll_width} px wide in {inner}"
        _check_navbar(page, wide)
        # A reference is never broken over two lines.
        broken = page.eval_on_selector_all(
            "a.ref, td.col-reference a",
            "els => els.filter(e => e.getClientRects().length > 1).map(e => e.textContent)",
        )
        assert not broken, (path, broken)

    # The user menu: name, role, Log out; logging out ends the session.
    page.goto(base + "/admin/")
    if not wide:
        _open_menu(page)
    page.locator("#user-menu-toggle").click()
    menu = page.locator("#user-menu .dropdown-menu")
    expect(menu).to_be_visible()
    expect(page.locator("#user-menu-name")).to_have_text(name)
    expect(page.locator("#user-menu-role")).to_have_text(role_label)
    expect(menu).to_contain_text(email)
    logout = menu.get_by_role("button", name="Log out")
    expect(logout).to_be_visible()
    box = menu.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, box
    _shot(page, f"{role}-{size}-user-menu")
    logout.click()
    page.wait_for_load_state()
    expect(page.get_by_text("You are logged out")).to_be_visible()
    page.goto(base + "/admin/")
    expect(page).to_have_url(re.compile(r"/account/login"))

    assert not page.problems, page.problems
