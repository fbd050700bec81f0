"""Estimate → approval → charges → invoice → payment → completion, as every face shows it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, Forbidden
from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Invoice, RepairCharge, ServiceRequest
from fixmyphone.services import inventory, warranty
from fixmyphone.services.billing import (
    approvals,
    balances,
    charges,
    estimates,
    invoices,
    labour,
    payments,
    refunds,
)
from fixmyphone.workflow import UnpaidBalance, move_status
from tests import factories
from tests.api.conftest import bearer
from tests.conftest import csrf_token


@pytest.fixture
def app_settings():
    return {"TAX_RATE_BP": 2000, "LABOUR_RATE": 6000, "JWT_SECRET_KEY": "billing-" + "k" * 40}


@pytest.fixture
def tech(app):
    return factories.TechnicianFactory()


@pytest.fixture
def screen(app):
    return factories.PartFactory(name="Galaxy S21 screen", price=11900, on_hand=2)


@pytest.fixture
def repair(app, customer, tech):
    return factories.ServiceRequestFactory(customer=customer, technician=tech, status="in_progress")


def _estimate(repair, tech, screen) -> int:
    """Part + an hour of labour ($119 + $60, 20 % tax = $214.80), sent to the customer."""
    estimates.add_part_line(repair, screen, 1, tech)
    estimates.add_labour_line(repair, actor=tech, description="Screen replacement", minutes=60)
    version = approvals.send_estimate(repair, tech)
    db.session.commit()
    return version


def _reload(repair) -> ServiceRequest:
    db.session.expire_all()
    return db.session.get(ServiceRequest, repair.id)


def test_the_customer_sees_the_lines_and_totals_on_every_face(
    app, client, customer_client, repair, tech, screen, customer
):
    _estimate(repair, tech, screen)
    pages = (
        client.get(f"/track/{repair.tracking_token}").get_data(as_text=True),
        customer_client.get(f"/account/repairs/{repair.id}").get_data(as_text=True),
    )
    for html in pages:
        assert "Galaxy S21 screen" in html and "Screen replacement" in html
        assert "$119.00" in html and "$60.00" in html
        assert "$179.00" in html and "$35.80" in html and "$214.80" in html
        assert 'name="version" value="1"' in html
        assert "Approve $214.80" in html
    body = client.get(f"/api/service-request/{repair.id}", headers=bearer(customer)).get_json()
    estimate = body["estimate"]
    assert estimate["status"] == "pending" and estimate["version"] == 1
    assert [(line["kind"], line["net"]) for line in estimate["lines"]] == [
        ("part", {"amount": 11900, "currency": "usd"}),
        ("labour", {"amount": 6000, "currency": "usd"}),
    ]
    assert estimate["lines"][1]["minutes"] == 60
    assert estimate["total"] == {"amount": 21480, "currency": "usd"}
    assert body["balance_due"] == {"amount": 0, "currency": "usd"}


def test_a_draft_is_not_shown_to_the_customer(app, client, customer, repair, tech):
    estimates.add_fee_line(repair, actor=tech, description="Diagnosis", amount=2500)
    db.session.commit()
    html = client.get(f"/track/{repair.tracking_token}").get_data(as_text=True)
    assert "Diagnosis" not in html and "preparing your estimate" in html
    body = client.get(f"/api/service-request/{repair.id}", headers=bearer(customer)).get_json()
    assert body["estimate"] is None


def test_approving_on_the_tracking_link_makes_the_charges(app, client, repair, tech, screen):
    _estimate(repair, tech, screen)
    page = f"/track/{repair.tracking_token}"
    response = client.post(
        page + "/quote",
        data={"csrf_token": csrf_token(client, page), "decision": "approve", "version": "1"},
    )
    assert response.status_code == 302 and response.headers["Location"].endswith(page)
    req = _reload(repair)
    assert (req.quote_status, req.status) == ("approved", "in_progress")
    charges = db.session.scalars(sa.select(RepairCharge).order_by(RepairCharge.id)).all()
    assert [(c.kind, c.net_amount, c.estimate_version) for c in charges] == [
        ("part", 11900, 1),
        ("labour", 6000, 1),
    ]
    assert req.history[-1].note == "Estimate approved ($214.80)."
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "quote_approved"))
    assert entry.after["total"] == "$214.80"


def test_a_decision_on_an_old_version_is_refused(app, client, repair, tech, screen):
    _estimate(repair, tech, screen)
    page = f"/track/{repair.tracking_token}"
    token = csrf_token(client, page)
    # Staff change the estimate and send it again while the customer's page is open.
    estimates.add_fee_line(repair, actor=tech, description="Data backup", amount=2000)
    approvals.send_estimate(repair, tech)
    db.session.commit()
    response = client.post(
        page + "/quote", data={"csrf_token": token, "decision": "approve", "version": "1"}
    )
    assert response.status_code == 409
    assert "The estimate changed since you opened it" in response.get_data(as_text=True)
    assert _reload(repair).quote_status == "pending"


def test_declining_a_revision_keeps_the_earlier_approval(app, repair, tech, screen, customer):
    _estimate(repair, tech, screen)
    approvals.decide_estimate(repair, approve=True, actor=customer, version=1)
    estimates.add_fee_line(repair, actor=tech, description="Data backup", amount=2000)
    approvals.send_estimate(repair, tech)
    approvals.decide_estimate(repair, approve=False, actor=customer, version=2)
    db.session.commit()
    req = _reload(repair)
    assert (req.quote_status, req.status) == ("declined", "in_progress")
    assert [c.estimate_version for c in estimates.charges_for(req)] == [1, 1]
    assert charges.charges_totals(req).total == 21480


def test_consumed_parts_and_recorded_labour_adjust_the_bill(app, repair, tech, screen, customer):
    _estimate(repair, tech, screen)
    approvals.decide_estimate(repair, approve=True, actor=customer)
    line = estimates.lines_for(repair)[0]
    inventory.consume_part(line.request_part, tech)
    # Half an hour more than estimated, and a small extra part used off the shelf.
    labour.record_labour(repair, description="Replaced screen", minutes=90, actor=tech)
    glue = factories.PartFactory(name="Adhesive strip", price=500, on_hand=5)
    inventory.use_part(repair, glue, 1, tech)
    db.session.commit()

    bill = charges.charges_totals(_reload(repair))
    assert [(line.description, line.net) for line in bill.lines] == [
        ("Galaxy S21 screen", 11900),
        ("Adhesive strip", 500),
        ("Labour: Replaced screen (1.5 h)", 9000),
    ]
    assert (bill.subtotal, bill.tax, bill.total) == (21400, 4280, 25680)


def test_a_released_part_is_not_charged(app, repair, tech, screen, customer):
    _estimate(repair, tech, screen)
    approvals.decide_estimate(repair, approve=True, actor=customer)
    inventory.release_part(estimates.lines_for(repair)[0].request_part, tech)
    db.session.commit()
    assert [line.kind for line in charges.current_charges(_reload(repair))] == ["labour"]


def test_ready_for_pickup_issues_the_invoice_and_completion_waits_for_payment(
    app, client, customer_client, repair, tech, screen, customer
):
    _estimate(repair, tech, screen)
    approvals.decide_estimate(repair, approve=True, actor=customer)
    inventory.consume_part(estimates.lines_for(repair)[0].request_part, tech)
    move_status(repair, "quality_check", tech)
    move_status(repair, "ready_for_pickup", tech)
    db.session.commit()

    invoice = db.session.scalar(sa.select(Invoice))
    assert invoice is not None and invoice.total == 21480
    assert [line.kind for line in invoice.lines] == ["part", "labour"]
    page = f"/track/{repair.tracking_token}"
    html = client.get(page).get_data(as_text=True)
    assert invoice.number in html and "$214.80" in html
    link = f"{page}/invoice/{invoice.id}.pdf"
    assert link in html
    pdf = client.get(link)
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    assert "You can pay at the counter" in html and "Nothing to pay" not in html
    assert client.get(f"/track/not-the-token/invoice/{invoice.id}.pdf").status_code == 404
    other = factories.ServiceRequestFactory()
    db.session.commit()
    assert client.get(f"/track/{other.tracking_token}/invoice/{invoice.id}.pdf").status_code == 404

    # Completing unpaid is refused with the amount, in money, on every face.
    with pytest.raises(UnpaidBalance, match=r"^\$214\.80 is still due on FMP-"):
        move_status(repair, "completed", tech)
    db.session.rollback()
    response = client.post(
        f"/api/service-request/{repair.id}/status",
        json={"status": "completed"},
        headers=bearer(tech),
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "conflict" and error["message"].startswith("$214.80 is still due")
    assert "minor units" not in error["message"]

    cash = payments.record_offline_payment(_reload(repair), amount=21480, method="cash", actor=tech)
    payments.verify_payment(cash, factories.UserFactory(role="admin"))
    db.session.commit()
    html = client.get(page).get_data(as_text=True)
    assert "Nothing to pay: everything is paid" in html
    move_status(_reload(repair), "completed", tech)
    db.session.commit()
    assert _reload(repair).status == "completed"


def test_a_repair_without_charges_needs_a_no_charge_decision(app, client, repair, tech):
    move_status(repair, "quality_check", tech)
    move_status(repair, "ready_for_pickup", tech)
    db.session.commit()
    assert db.session.scalar(sa.select(Invoice)) is None  # never a $0 invoice
    with pytest.raises(UnpaidBalance, match="has no charges and no invoice"):
        move_status(repair, "completed", tech)
    db.session.rollback()
    with pytest.raises(Forbidden):
        charges.mark_no_charge(_reload(repair), reason="Goodwill", actor=tech)
    admin = factories.UserFactory(role="admin")
    req = _reload(repair)
    charges.mark_no_charge(req, reason="Goodwill: two-minute fix", actor=admin)
    move_status(req, "completed", admin)
    db.session.commit()
    assert _reload(repair).status == "completed"


def test_charges_not_invoiced_block_completion(app, repair, tech, customer):
    estimates.add_fee_line(repair, actor=tech, description="Diagnosis", amount=2500)
    approvals.send_estimate(repair, tech)
    approvals.decide_estimate(repair, approve=True, actor=customer)
    move_status(repair, "quality_check", tech)
    move_status(repair, "ready_for_pickup", tech)
    invoice = db.session.scalar(sa.select(Invoice))
    cash = payments.record_offline_payment(repair, amount=invoice.total, method="cash", actor=tech)
    payments.verify_payment(cash, factories.UserFactory(role="admin"))
    # Work recorded after the invoice: it is owed too.
    labour.record_labour(repair, description="Extra cleaning", minutes=30, actor=tech)
    with pytest.raises(UnpaidBalance, match=r"\$36\.00 of charges .* are not invoiced yet"):
        move_status(repair, "completed", tech)


def test_warranty_rework_is_free_by_default(app, repair, tech, screen, customer):
    admin = factories.UserFactory(role="admin")
    charges.mark_no_charge(repair, reason="Goodwill", actor=admin)
    for status in ("quality_check", "ready_for_pickup", "completed"):
        move_status(repair, status, admin)
    claim = warranty.open_claim(repair, "Screen flickers again", admin)
    db.session.flush()
    assert claim.no_charge and claim.no_charge_reason == f"Warranty rework of {repair.reference}"
    assert claim.no_charge_by_id == admin.id
    estimates.add_part_line(claim, screen, 1, admin)
    view = estimates.staff_view(claim)
    assert view.totals.total == 0 and view.totals.free


def test_refunding_an_overpayment_issues_no_credit_note(app, repair, tech, customer):
    admin = factories.UserFactory(role="admin")
    estimates.add_fee_line(repair, actor=tech, description="Diagnosis", amount=5000)
    approvals.send_estimate(repair, tech)
    approvals.decide_estimate(repair, approve=True, actor=customer)
    invoice = invoices.issue_invoice(repair, admin)  # $60.00 with tax
    cash = payments.record_offline_payment(repair, amount=8000, method="cash", actor=admin)
    payments.verify_payment(cash, admin)
    assert balances.balance_due(repair) == -2000
    refunds.refund(cash, amount=2500, actor=admin, reason="Change and goodwill")
    notes = db.session.scalars(sa.select(Invoice).where(Invoice.kind == "credit_note")).all()
    # $20.00 was overpaid; only the other $5.00 was invoiced money, so only it is credited.
    assert [(n.total, n.credit_for_id) for n in notes] == [(500, invoice.id)]
    assert balances.balance_due(repair) == 0


def test_only_staff_build_estimates_and_not_on_finished_repairs(app, repair, customer, tech):
    with pytest.raises(Forbidden):
        estimates.add_fee_line(repair, actor=customer, description="x", amount=100)
    repair.status = "completed"
    with pytest.raises(Conflict):
        estimates.add_fee_line(repair, actor=tech, description="x", amount=100)


def test_the_receipt_shows_what_was_paid_for_with_the_tax(app, repair, tech, screen, customer):
    import io

    from pypdf import PdfReader

    from fixmyphone.services import documents

    _estimate(repair, tech, screen)
    approvals.decide_estimate(repair, approve=True, actor=customer)
    move_status(repair, "quality_check", tech)
    move_status(repair, "ready_for_pickup", tech)
    admin = factories.UserFactory(role="admin")
    cash = payments.record_offline_payment(repair, amount=21480, method="cash", actor=admin)
    payments.verify_payment(cash, admin)
    db.session.commit()

    data = documents.render_receipt(cash.id)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    assert "Galaxy S21 screen 1 $119.00 20% $119.00" in text
    assert "Screen replacement (1 h) 1 $60.00 20% $60.00" in text
    assert "Tax (20%) $35.80" in text and "Total $214.80" in text
    assert "Amount paid $214.80" in text


def test_once_the_work_is_done_the_estimate_and_deposits_are_closed(app, repair, tech, customer):
    estimates.add_fee_line(repair, actor=tech, description="Diagnosis", amount=2500)
    approvals.send_estimate(repair, tech)
    approvals.decide_estimate(repair, approve=True, actor=customer)
    move_status(repair, "quality_check", tech)
    move_status(repair, "ready_for_pickup", tech)
    with pytest.raises(Conflict, match="ready for pickup: its estimate no longer changes"):
        estimates.add_fee_line(repair, actor=tech, description="Late fee", amount=500)
    with pytest.raises(Conflict, match="before the work"):
        invoices.issue_deposit_invoice(repair, amount=1000, actor=tech)
    # Labour can still be recorded; the charges not invoiced yet block completion until billed.
    admin = factories.UserFactory(role="admin")
    cash = payments.record_offline_payment(repair, amount=3000, method="cash", actor=admin)
    payments.verify_payment(cash, admin)
    assert charges.completion_blocker(repair) is None
    labour.record_labour(repair, description="Final test", minutes=15, actor=tech)
    assert charges.completion_blocker(repair).startswith("$18.00 of charges")


def test_the_customer_is_told_why_the_invoice_differs_from_the_estimate(
    app, client, repair, tech, customer
):
    estimates.add_labour_line(repair, actor=tech, description="Board repair", minutes=60)
    approvals.send_estimate(repair, tech)
    approvals.decide_estimate(repair, approve=True, actor=customer)
    labour.record_labour(repair, description="Board repair", minutes=90, actor=tech)
    move_status(repair, "quality_check", tech)
    move_status(repair, "ready_for_pickup", tech)
    db.session.commit()
    html = client.get(f"/track/{repair.tracking_token}").get_data(as_text=True)
    assert "The invoices come to $108.00, the approved estimate to $72.00" in html


def test_an_estimate_approved_before_the_drop_off_keeps_the_booking(app, customer, tech):
    repair = factories.ServiceRequestFactory(customer=customer, technician=tech, status="scheduled")
    estimates.add_fee_line(repair, actor=tech, description="Screen replacement", amount=9900)
    approvals.send_estimate(repair, tech)
    assert repair.status == "on_hold"
    approvals.decide_estimate(repair, approve=True, actor=customer)
    assert repair.status == "scheduled" and repair.checked_in_at is None
