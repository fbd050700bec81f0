"""Every page, as each person sees it, in Chromium at 1280×800 and 390×844.

The back office for a technician, an admin and a super admin (every view the app registers,
its list, create, details and edit pages on a real row, and its other pages: dashboard,
calendar, checkout, reports, ...), and the customer site for a visitor and for a logged-in
customer (home, sign up, log in, reset, request form, tracking link, account, repairs,
booking, history, profile, documents, notifications, payment). The pages are read from the
app (tests/browser/site_map.py), so a new one is checked without editing this file.

On each page: it answers 200 without sending the person elsewhere; the page never scrolls
sideways; no console error, page error or CSP violation; axe-core finds nothing serious or
critical; and the text a person reads has no "minor units", no time with seconds and no
stored value (``in_progress``, ``bank_transfer``, ``superadmin``, ...) where a label belongs.

One browser, one logged-in context per person, one seeded world for the module. To stay
fast, the whole of axe runs at 1280 px once per kind of page (its address with the ids left
out) for the customer site's visitor and customer, the technician, and the admins (an admin
and a super admin see the same pages); at 390 px axe checks what the phone layout changes
(regions that scroll sideways) on the pages that have one.
FMP_SHOTS=1 keeps a screenshot of every page in test-artifacts/every-page/; a page that fails
always leaves one.
"""

from __future__ import annotations

import os
import re
import threading
from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from werkzeug.serving import make_server

from fixmyphone.extensions import db

from ..conftest import make_app
from . import site_map
from .conftest import ARTIFACTS, _require_chromium, log_in

pytestmark = pytest.mark.browser

SIZES = {"1280x800": (1280, 800), "390x844": (390, 844)}
PEOPLE = ("visitor", "customer", *site_map.STAFF)
SHOTS = ARTIFACTS / "every-page"
ALL_SHOTS = os.environ.get("FMP_SHOTS") == "1"

MINOR_UNITS = re.compile(r"minor units", re.IGNORECASE)
SECONDS = re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b")
RAW_VALUE = re.compile(r"\b(" + "|".join(map(re.escape, site_map.VOCABULARY)) + r")\b")

# Records CSP violations in the page (they also reach the console as errors).
CSP_LISTENER = (
    "window.__cspViolations = [];"
    "document.addEventListener('securitypolicyviolation', function (e) {"
    " window.__cspViolations.push(e.violatedDirective + ' ' + e.blockedURI); });"
)
# At phone width: the rules a narrower layout can break (the rest ran at 1280 px).
# Violations only, each node named by its HTML (axe's CSS selectors cost a fifth of its time).
FULL = {"resultTypes": ["violations"], "selectors": False}
PHONE_RULES = {
    **FULL,
    "runOnly": {"type": "rule", "values": ["scrollable-region-focusable", "meta-viewport"]},
}
READ_PAGE = """() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
    scrollsInside: Array.from(document.querySelectorAll('body *')).some(e =>
        e.scrollWidth > e.clientWidth + 1 && /auto|scroll/.test(getComputedStyle(e).overflowX)),
    text: document.body ? document.body.innerText : '',
    csp: window.__cspViolations || [],
})"""


@pytest.fixture(scope="module")
def shop(tmp_path_factory):
    """The demo shop and its extras on a live server (file SQLite), once for the module."""
    _require_chromium()
    tmp = tmp_path_factory.mktemp("every-page")
    # Static files cached by the browser for the run (no revalidation per page: ~18 requests
    # saved on every back-office page).
    app = make_app(f"sqlite:///{tmp / 'shop.db'}", tmp, SEND_FILE_MAX_AGE_DEFAULT=3600)
    site_map.world(app)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = base
    app.base_url = base
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def pages(shop):
    """Person -> the paths of every page they are checked on."""
    found = {
        "visitor": site_map.customer_pages(shop, logged_in=False),
        "customer": site_map.customer_pages(shop, logged_in=True),
    }
    for role in site_map.STAFF:
        found[role] = site_map.back_office_pages(shop, role)
    return found


@pytest.fixture(scope="module")
def axe():
    """Runs axe-core on a page: all of it once per kind of page and audience at 1280 px, the
    phone rules at 390 px where something scrolls sideways inside the page."""
    engine, seen = Axe(), set()

    def run(page, path: str, person: str, wide: bool, scrolls_inside: bool) -> list[dict]:
        if not wide:
            if not scrolls_inside:
                return []
            return engine.run(page, options=PHONE_RULES).response["violations"]
        kind = ("admin" if person == "superadmin" else person, re.sub(r"\d+", "#", path))
        if kind in seen:
            return []
        seen.add(kind)
        return engine.run(page, options=FULL).response["violations"]

    return run


@pytest.fixture(scope="module")
def tabs(browser, shop):
    """Person -> a page in their own browser context, logged in once."""
    opened = {}

    def tab(person: str):
        if person not in opened:
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            context.add_init_script(CSP_LISTENER)
            page = context.new_page()
            page.problems = []
            page.on(
                "console",
                lambda msg: (
                    page.problems.append(f"console.{msg.type}: {msg.text}")
                    if msg.type == "error" or "Content Security Policy" in msg.text
                    else None
                ),
            )
            page.on("pageerror", lambda exc: page.problems.append(f"pageerror: {exc}"))
            # Which address failed (the console only says that something did).
            page.on(
                "response",
                lambda r: (
                    page.problems.append(f"HTTP {r.status} {urlsplit(r.url).path}")
                    if r.status >= 400
                    else None
                ),
            )
            if person != "visitor":
                email = site_map.STAFF.get(person, site_map.CUSTOMER)
                log_in(page, shop.base_url, email, site_map.PASSWORD)
            opened[person] = page
        return opened[person]

    yield tab
    for page in opened.values():
        page.context.close()


def _check(page, axe, base: str, path: str, person: str, wide: bool) -> list[str]:
    """Open ``path`` and list what is wrong with it (empty when it is fine)."""
    page.problems.clear()
    response = page.goto(base + path, wait_until="load")
    if page.locator(".fc").count():
        page.wait_for_load_state("networkidle")  # the calendar fetches its events
    wrong = []
    landed = urlsplit(page.url).path
    if response.status != 200:
        wrong.append(f"answered {response.status}")
    if "/account/login" in landed and "/account/login" not in path and person != "visitor":
        wrong.append(f"sent to {landed}")
    seen = page.evaluate(READ_PAGE)
    if seen["scrollWidth"] > seen["innerWidth"]:
        wrong.append(f"scrolls sideways: {seen['scrollWidth']} px in {seen['innerWidth']}")
    text = seen["text"]
    for pattern, what in (
        (MINOR_UNITS, "says 'minor units'"),
        (SECONDS, "shows a time with seconds"),
        (RAW_VALUE, "shows a stored value"),
    ):
        hits = sorted(set(pattern.findall(text)))
        if hits:
            wrong.append(f"{what}: {hits[:5]}")
    for violation in axe(page, path, person, wide, seen["scrollsInside"]):
        if violation["impact"] in ("serious", "critical"):
            targets = [n["html"][:90] for n in violation["nodes"][:3]]
            wrong.append(
                f"axe {violation['impact']} {violation['id']}: {violation['help']} "
                f"({len(violation['nodes'])}x, e.g. {targets})"
            )
    wrong += [f"CSP violation: {v}" for v in seen["csp"]]
    wrong += list(page.problems)
    return wrong


_ANSWERS: dict[str, bool] = {}


def _is_page(page, url: str) -> bool:
    """Whether ``url`` answers a web page (HTML) rather than data for a script, asked once
    outside the page (a JSON answer opened in a tab would log its errors into the next page)."""
    path = urlsplit(url).path
    if path not in _ANSWERS:
        answer = page.request.get(url, max_redirects=5)
        _ANSWERS[path] = "text/html" in answer.headers.get("content-type", "")
        answer.dispose()
    return _ANSWERS[path]


def _slug(path: str) -> str:
    return re.sub(r"[^A-Za-z0-9]+", "-", path).strip("-") or "home"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("person", PEOPLE)
def test_every_page_fits_reads_well_and_passes_axe(shop, pages, tabs, axe, person, size):
    page = tabs(person)
    width, height = SIZES[size]
    page.set_viewport_size({"width": width, "height": height})
    checked, failures = 0, []
    for path in pages[person]:
        if not _is_page(page, shop.base_url + path):
            continue  # data for a page's script (JSON), not a page
        wrong = _check(page, axe, shop.base_url, path, person, wide=width >= 1200)
        checked += 1
        if wrong or ALL_SHOTS:
            SHOTS.mkdir(parents=True, exist_ok=True)
            shot = SHOTS / f"{person}-{size}-{_slug(path)}.png"
            page.screenshot(path=str(shot), full_page=True)
        if wrong:
            failures.append(f"{path}\n    " + "\n    ".join(wrong))
    minimum = 4 if person in ("visitor", "technician") else 8
    assert checked >= minimum, pages[person]
    assert not failures, f"{len(failures)} of {checked} pages for the {person} at {size}:\n" + (
        "\n".join(failures)
    )


# ---------------------------------------------------------------- the keyboard

FOCUSED = """() => {
    const e = document.activeElement, s = getComputedStyle(e);
    return {tag: e.tagName, type: e.type || '', label: e.getAttribute('aria-label') || '',
            text: (e.textContent || '').trim().slice(0, 60), outline: s.outlineStyle,
            width: parseFloat(s.outlineWidth) || 0};
}"""


def _tab_until(page, wanted, limit: int = 200) -> dict:
    """Press Tab until ``wanted(focused)`` holds; the focused element's description."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        focused = page.evaluate(FOCUSED)
        if wanted(focused):
            return focused
    raise AssertionError(f"Tab never reached the element ({limit} presses)")


def _visible_focus(focused: dict) -> bool:
    return focused["outline"] not in ("none", "") and focused["width"] >= 2


@pytest.mark.parametrize(
    "person,path",
    [("visitor", "/track"), ("customer", "/account/profile"), ("admin", "REPAIR")],
)
def test_focus_is_visible_on_links_buttons_and_fields(shop, tabs, person, path):
    """Tabbing through a page, the link, the button and the field that get focus show it."""
    page = tabs(person)
    page.set_viewport_size({"width": 1280, "height": 800})
    if path == "REPAIR":
        path = site_map.back_office_pages(shop, "admin")[2]  # a repair's page
        assert "/admin/requests/view/" in path
    page.goto(shop.base_url + path)
    seen: dict[str, dict] = {}
    kinds = {"A": "link", "BUTTON": "button", "INPUT": "field", "SELECT": "field"}

    def one_of_each(focused: dict) -> bool:
        if focused["tag"] in kinds:
            seen.setdefault(kinds[focused["tag"]], focused)
        return len(seen) == 3

    _tab_until(page, one_of_each)
    hidden = {kind: f for kind, f in seen.items() if not _visible_focus(f)}
    assert not hidden, f"{path}: focus not visible on {hidden}"


def test_a_keyboard_moves_an_appointment_in_the_calendar(shop, tabs):
    """Tab to an appointment's Move button, Enter, one hour later with the arrow keys, Enter:
    the appointment moves, through the booking service, without a mouse."""
    import sqlalchemy as sa

    from fixmyphone.models import Appointment, OpeningHours

    tz = ZoneInfo(shop.config["SHOP_TIMEZONE"])
    with shop.app_context():
        hours = {h.weekday: h for h in db.session.scalars(sa.select(OpeningHours))}
        scheduled = db.session.scalars(
            sa.select(Appointment)
            .where(Appointment.status == "scheduled")
            .order_by(Appointment.start)
        ).all()
        taken = {a.start for a in scheduled}

        def movable(a) -> bool:
            local = a.start.astimezone(tz)
            day = hours.get(local.weekday())
            later = local + timedelta(hours=1)
            return (
                day is not None
                and not day.closed
                and later.time() < day.closes_at
                and local.date() > datetime.now(tz).date()
                and a.start + timedelta(hours=1) not in taken
            )

        chosen = next(a for a in scheduled if movable(a))
        appointment_id, start = chosen.id, chosen.start
        reference = chosen.service_request.reference
        db.session.remove()

    page = tabs("admin")
    page.problems.clear()
    page.set_viewport_size({"width": 1280, "height": 800})
    day = start.astimezone(tz).date().isoformat()
    page.goto(f"{shop.base_url}/admin/appointments/calendar?date={day}&span=day")
    page.wait_for_load_state("networkidle")

    move = _tab_until(page, lambda f: f["label"] == f"Move {reference}")
    assert _visible_focus(move), move
    page.keyboard.press("Enter")
    dialog = page.locator("#move-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#move-start")).to_be_focused()
    # The date-and-time box: Tab walks its parts (month, day, year, hour); ArrowUp adds an hour.
    for key in ("Tab", "Tab", "Tab", "ArrowUp"):
        page.keyboard.press(key)
    later = (start + timedelta(hours=1)).astimezone(tz).strftime("%Y-%m-%dT%H:%M")
    expect(page.locator("#move-start")).to_have_value(later)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(page.locator("#cal-status")).to_contain_text("Appointment moved")

    with shop.app_context():
        assert db.session.get(Appointment, appointment_id).start == start + timedelta(hours=1)
        db.session.remove()
    assert not page.problems, page.problems
