"""The repair page's billing forms: estimate lines, sending, labour, invoices, no-charge."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import (
    AuditLog,
    EstimateLine,
    Invoice,
    LabourEntry,
    Part,
    RequestPart,
    ServiceRequest,
)
from fixmyphone.services.billing import approvals, estimates
from tests import factories
from tests.conftest import client_for

from .conftest import post_form


@pytest.fixture
def app_settings():
    return {"TAX_RATE_BP": 2000, "LABOUR_RATE": 6000}


def page(req) -> str:
    return f"/admin/requests/view/{req.id}"


@pytest.fixture
def screen(app):
    part = factories.PartFactory(name="iPhone 13 screen", price=11900, on_hand=3)
    db.session.commit()
    return part


def _reload(req) -> ServiceRequest:
    db.session.expire_all()
    return db.session.get(ServiceRequest, req.id)


def test_technician_builds_and_sends_a_two_line_estimate(app, repair, tech, screen):
    client, _ = client_for(app, tech)
    url = page(repair)

    response = post_form(client, url, url + "/estimate/part", part_id=screen.id, quantity="1")
    assert response.status_code == 302 and response.headers["Location"].endswith(url)
    post_form(client, url, url + "/estimate/labour", description="Screen replacement", hours="1.5")

    lines = db.session.scalars(sa.select(EstimateLine).order_by(EstimateLine.id)).all()
    assert [
        (line.kind, line.quantity, line.minutes, line.unit_amount, line.net_amount)
        for line in lines
    ] == [
        ("part", 1, None, 11900, 11900),
        ("labour", 1, 90, 6000, 9000),
    ]
    # The part line reserved the screen.
    reservation = db.session.get(RequestPart, lines[0].request_part_id)
    assert reservation.status == "reserved" and db.session.get(Part, screen.id).reserved == 1

    html = client.get(url).get_data(as_text=True)
    assert "iPhone 13 screen" in html and "1.5 h" in html
    assert "$209.00" in html and "$41.80" in html and "$250.80" in html  # 20 % tax

    response = post_form(client, url, url + "/estimate/send")
    assert response.status_code == 302
    req = _reload(repair)
    assert (req.quote_status, req.estimate_version, req.quote_amount) == ("pending", 1, 25080)
    assert req.status == "on_hold"
    assert req.history[-1].note == "Estimate sent ($250.80): waiting for your approval."


@pytest.mark.parametrize(
    ("path", "fields", "says"),
    [
        ("/estimate/part", {"part_id": "screen", "quantity": "0"}, "Give a quantity of 1 or more."),
        ("/estimate/part", {"part_id": "screen", "quantity": "4"}, "only 3 available, 4 asked"),
        ("/estimate/part", {"part_id": "x", "quantity": "1"}, "Choose a part from the list."),
        ("/estimate/labour", {"description": "Bench", "hours": "-1"}, "Give the hours as a"),
        ("/estimate/labour", {"description": "Bench", "hours": "abc"}, "Give the hours as a"),
        ("/estimate/labour", {"description": "Bench"}, "Give either the time (hours) or a fixed"),
        ("/estimate/fee", {"description": "", "amount": "10"}, "Describe the line."),
        ("/estimate/fee", {"description": "Diagnosis", "amount": "1e9"}, "Give a positive amount."),
        ("/estimate/discount", {"description": "Off", "amount": "10"}, "more than the estimate"),
    ],
)
def test_the_forms_refuse_bad_input_with_a_reason(app, repair, tech, screen, path, fields, says):
    client, _ = client_for(app, tech)
    url = page(repair)
    if fields.get("part_id") == "screen":
        fields = {**fields, "part_id": str(screen.id)}
    response = post_form(client, url, url + path, **fields)
    assert response.status_code == 302
    html = client.get(url).get_data(as_text=True)
    assert says in html
    assert db.session.scalar(sa.select(sa.func.count(EstimateLine.id))) == 0
    assert db.session.get(Part, screen.id).reserved == 0


def test_estimate_forms_need_the_csrf_token(app, repair, tech):
    client, _ = client_for(app, tech)
    response = client.post(page(repair) + "/estimate/fee", data={"description": "x", "amount": "1"})
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(EstimateLine.id))) == 0


def test_only_the_assigned_technician_or_an_admin_edits(app, repair, screen):
    other, _ = client_for(app, "technician")
    url = page(repair)
    # Another technician does not see the repair at all.
    assert other.get(url).status_code in (403, 404)
    admin, _ = client_for(app, "admin")
    post_form(admin, url, url + "/estimate/fee", description="Diagnosis", amount="25")
    assert db.session.scalar(sa.select(EstimateLine.net_amount)) == 2500


def test_removing_a_part_line_releases_the_stock(app, repair, tech, screen):
    client, _ = client_for(app, tech)
    url = page(repair)
    post_form(client, url, url + "/estimate/part", part_id=screen.id, quantity="2")
    line = db.session.scalar(sa.select(EstimateLine))
    assert db.session.get(Part, screen.id).reserved == 2
    response = post_form(client, url, url + f"/estimate/lines/{line.id}/remove")
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(EstimateLine)) is None
    assert db.session.get(Part, screen.id).reserved == 0
    other = factories.ServiceRequestFactory()
    db.session.commit()
    assert (
        post_form(
            client, url, f"/admin/requests/view/{repair.id}/estimate/lines/999/remove"
        ).status_code
        == 404
    )
    assert other.id


def test_changing_an_approved_estimate_needs_a_new_approval(app, repair, tech, screen):
    client, _ = client_for(app, tech)
    url = page(repair)
    post_form(client, url, url + "/estimate/fee", description="Diagnosis", amount="25")
    post_form(client, url, url + "/estimate/send")
    req = _reload(repair)
    approvals.decide_estimate(req, approve=True, actor=req.customer, version=1)
    db.session.commit()
    assert _reload(repair).quote_status == "approved"

    post_form(client, url, url + "/estimate/part", part_id=screen.id, quantity="1")
    req = _reload(repair)
    assert req.quote_status == "draft"
    # The approved charges still hold the first version only.
    assert [c.description for c in estimates.charges_for(req)] == ["Diagnosis"]
    assert "need their approval again" in client.get(url).get_data(as_text=True)
    post_form(client, url, url + "/estimate/send")
    req = _reload(repair)
    assert (req.quote_status, req.estimate_version) == ("pending", 2)


def test_labour_is_recorded_at_the_hourly_rate(app, repair, tech):
    repair.status = "in_progress"
    db.session.commit()
    client, _ = client_for(app, tech)
    url = page(repair)
    response = post_form(client, url, url + "/labour", description="Replaced screen", hours="0.75")
    assert response.status_code == 302
    entry = db.session.scalar(sa.select(LabourEntry))
    assert (entry.minutes, entry.amount, entry.technician_id) == (45, 4500, tech.id)
    post_form(client, url, url + "/labour", description="Glue", hours="", amount="12.50")
    assert db.session.scalar(sa.select(sa.func.sum(LabourEntry.amount))) == 4500 + 1250
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "labour_logged"))
    assert audit.after["amount"] == "$45.00"


def test_staff_issue_an_interim_invoice_and_the_final_one_deducts_it(app, repair, tech):
    admin, _ = client_for(app, "admin")
    url = page(repair)
    post_form(admin, url, url + "/status", status="in_progress")  # checked in
    post_form(admin, url, url + "/estimate/fee", description="Data recovery", amount="100")
    post_form(admin, url, url + "/estimate/send")
    req = _reload(repair)
    approvals.decide_estimate(req, approve=True, actor=req.customer)
    db.session.commit()

    response = post_form(admin, url, url + "/invoice")
    assert response.status_code == 302
    first = db.session.scalar(sa.select(Invoice))
    assert first.total == 12000  # $100 + 20 %
    # Nothing new to bill: a second invoice is refused with the reason.
    post_form(admin, url, url + "/invoice")
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 1
    assert "already has invoice" in admin.get(url).get_data(as_text=True)

    post_form(admin, url, url + "/labour", description="Extra cleaning", hours="", amount="10")
    for status in ("quality_check", "ready_for_pickup"):
        post_form(admin, url, url + "/status", status=status)
    final = db.session.scalars(sa.select(Invoice).order_by(Invoice.id)).all()[-1]
    assert final.id != first.id
    assert [line.kind for line in final.lines] == ["fee", "labour", "deduction"]
    assert final.total == 1200  # the new $10 of labour + tax; the first invoice is deducted
    req = _reload(repair)
    from fixmyphone.services.billing import balances

    assert balances.balance_due(req) == 13200


def test_deposit_invoice_is_deducted_later(app, repair):
    admin, _ = client_for(app, "admin")
    url = page(repair)
    post_form(admin, url, url + "/invoice/deposit", amount="60")
    deposit = db.session.scalar(sa.select(Invoice))
    assert (deposit.subtotal, deposit.tax, deposit.total) == (5000, 1000, 6000)
    assert deposit.lines[0].kind == "deposit"


def test_only_admins_mark_no_charge_with_a_reason(app, repair, tech):
    client, _ = client_for(app, tech)
    url = page(repair)
    assert post_form(client, url, url + "/no-charge", reason="Friend").status_code == 403
    admin_client, admin = client_for(app, "admin")
    post_form(admin_client, url, url + "/no-charge", reason="  ")
    assert _reload(repair).no_charge is False
    post_form(admin_client, url, url + "/no-charge", reason="Goodwill: our mistake")
    req = _reload(repair)
    assert (req.no_charge, req.no_charge_reason, req.no_charge_by_id) == (
        True,
        "Goodwill: our mistake",
        admin.id,
    )
    assert req.no_charge_at is not None
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "no_charge_marked"))
    assert entry.actor_id == admin.id and entry.after == {"reason": "Goodwill: our mistake"}
    assert "Goodwill: our mistake" in admin_client.get(url).get_data(as_text=True)
