"""Browser tests: Debian's Chromium driven by Playwright against a live server on a file SQLite.

They skip with a reason where /usr/bin/chromium is missing, and fail instead under CI=true.
Screenshots of failed tests go to test-artifacts/.
"""

from __future__ import annotations

import os
import re
import threading
from datetime import time
from pathlib import Path

import pytest
from playwright.sync_api import expect
from werkzeug.serving import make_server

from fixmyphone.extensions import db

from .. import factories
from ..conftest import make_app

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    reason = f"{CHROMIUM} is not installed (apt-get install -y chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; under CI=true browser tests must run, not skip")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """Launch the system Chromium (never a downloaded one) headless and sandbox-free."""
    _require_chromium()
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "headless": True,
        "args": ["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
    }


def log_in(page, base: str, email: str, password: str = factories.PASSWORD) -> None:
    """The one way a browser test logs in: through the real login form."""
    page.goto(f"{base}/account/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page).not_to_have_url(re.compile(r"/account/login"))


@pytest.fixture
def live_server(tmp_path):
    """The app on 127.0.0.1:<free port> in a thread, file SQLite, open every day 00:00-23:30."""
    _require_chromium()
    app = make_app(f"sqlite:///{tmp_path / 'browser.db'}", tmp_path)
    with app.app_context():
        factories.open_every_day(time(0), time(23, 30))
        db.session.commit()
        db.session.remove()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    app.base_url = base_url
    try:
        yield app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


@pytest.hookimpl(tryfirst=True, hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


@pytest.fixture
def shop_page(page, request):
    """A Playwright page that records console errors, page errors and CSP violations, and
    leaves a full-page screenshot in test-artifacts/ when the test fails."""
    problems: list[str] = []
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console.{msg.type}: {msg.text}")
            if msg.type in ("error", "warning")
            and "Content Security Policy" in msg.text
            or msg.type == "error"
            else None
        ),
    )
    page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', function (e) {"
        " console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI); });"
    )
    page.on("dialog", lambda dialog: dialog.accept())
    page.problems = problems
    yield page
    report = getattr(request.node, "report_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
