"""The reports agree with the books: invoiced sales and tax equal the invoices' PDFs, unpaid
invoices carry what customers owe, aged by when they were issued."""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from fixmyphone.extensions import db
from fixmyphone.models import Invoice, utcnow
from fixmyphone.services import documents, reports
from fixmyphone.services.billing import (
    approvals,
    balances,
    books,
    credit_notes,
    estimates,
    invoices,
    payments,
)
from fixmyphone.services.billing.totals import ChargeLine
from fixmyphone.workflow import move_status
from tests import factories


@pytest.fixture
def app_settings():
    return {"TAX_RATE_BP": 2000, "LABOUR_RATE": 6000}


@pytest.fixture
def admin(app):
    return factories.UserFactory(role="admin")


def _billed_repair(admin, *, fee: int, hours: int = 0):
    """A repair whose approved estimate is invoiced when it is ready (through the services)."""
    repair = factories.ServiceRequestFactory(status="in_progress")
    estimates.add_fee_line(repair, actor=admin, description="Diagnosis", amount=fee)
    if hours:
        estimates.add_labour_line(repair, actor=admin, description="Bench", minutes=hours * 60)
    approvals.send_estimate(repair, admin)
    approvals.decide_estimate(repair, approve=True, actor=repair.customer)
    move_status(repair, "quality_check", admin)
    move_status(repair, "ready_for_pickup", admin)
    db.session.flush()
    return repair


def _pdf_figures(invoice: Invoice) -> tuple[Decimal, Decimal]:
    """(total, tax) as printed on the invoice's PDF; a credit note's count negative."""
    data = documents.render_invoice(invoice.id)
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)
    total = re.search(r"^Total(?: credited)?\s*(-?)\$([\d,]+\.\d\d)$", text, re.M)
    tax = re.search(r"^Tax(?: \([\d.]+%\))?\s*(-?)\$([\d,]+\.\d\d)$", text, re.M)
    assert total and tax, text
    sign = -1 if invoice.kind == "credit_note" else 1

    def amount(match):
        value = Decimal(match.group(2).replace(",", ""))
        return -value if match.group(1) else value

    return sign * amount(total), sign * amount(tax)


def test_invoiced_sales_and_tax_match_the_pdfs_of_the_period(app, admin):
    first = _billed_repair(admin, fee=4900, hours=1)  # $109.00 + tax
    second = _billed_repair(admin, fee=12345)
    third = _billed_repair(admin, fee=2000)
    credit_notes.issue_credit_note(
        db.session.scalar(sa.select(Invoice).where(Invoice.service_request_id == second.id)),
        amount=1500,
        reason="Goodwill",
        actor=admin,
    )
    invoices.issue_sale_invoice(
        [ChargeLine(kind="part", description="USB-C cable", unit_amount=1500, quantity=2)],
        actor=admin,
        bill_to_name="Walk-in",
    )
    # An invoice issued long before the period is not in it.
    old = db.session.scalar(sa.select(Invoice).where(Invoice.service_request_id == third.id))
    db.session.execute(
        sa.update(Invoice)
        .where(Invoice.id == old.id)
        .values(issued_at=utcnow() - timedelta(days=45))
    )
    db.session.commit()

    period = reports.Period(utcnow() - timedelta(days=7), utcnow() + timedelta(minutes=1))
    in_period = db.session.scalars(
        sa.select(Invoice).where(Invoice.issued_at >= period.start).order_by(Invoice.id)
    ).all()
    assert len(in_period) == 4 and first.id
    printed = [_pdf_figures(invoice) for invoice in in_period]
    pdf_total = sum(total for total, _ in printed)
    pdf_tax = sum(tax for _, tax in printed)

    rows = reports.table("invoiced", period, "month")
    assert sum(row["total"] for row in rows) == int(pdf_total * 100)
    assert sum(row["tax"] for row in rows) == int(pdf_tax * 100)
    assert sum(row["invoices"] for row in rows) == 3
    assert sum(row["credit_notes"] for row in rows) == 1
    # 109.00 + 123.45 + 30.00 net, 20 % tax, less the 15.00 credit note.
    assert pdf_total == Decimal("130.80") + Decimal("148.14") + Decimal("36.00") - Decimal("15.00")


def test_unpaid_invoices_are_aged_and_add_up_to_the_balances(app, admin):
    paid_part = _billed_repair(admin, fee=10000)  # $120.00
    cash = payments.record_offline_payment(paid_part, amount=5000, method="cash", actor=admin)
    payments.verify_payment(cash, admin)
    older = _billed_repair(admin, fee=5000)  # $60.00, issued 40 days ago
    invoice = db.session.scalar(sa.select(Invoice).where(Invoice.service_request_id == older.id))
    db.session.execute(
        sa.update(Invoice)
        .where(Invoice.id == invoice.id)
        .values(issued_at=utcnow() - timedelta(days=40))
    )
    settled = _billed_repair(admin, fee=3000)
    full = payments.record_offline_payment(settled, amount=3600, method="cash", actor=admin)
    payments.verify_payment(full, admin)
    sale = invoices.issue_sale_invoice(
        [ChargeLine(kind="part", description="Case", unit_amount=2000)], actor=admin
    )
    db.session.commit()

    rows = books.unpaid_invoices()
    assert [(row["repair"], row["outstanding"], row["ageing"]) for row in rows] == [
        (older.reference, 6000, "31-60 days"),
        (paid_part.reference, 7000, "0-30 days"),
        ("Counter sale", 2400, "0-30 days"),
    ]
    assert sum(row["outstanding"] for row in rows if row["repair"] != "Counter sale") == sum(
        balances.balance_due(r) for r in (paid_part, older, settled)
    )
    assert balances.invoice_balance(sale) == 2400
    buckets = {row["ageing"]: row for row in books.ageing(rows)}
    assert buckets["0-30 days"] == {"ageing": "0-30 days", "invoices": 2, "outstanding": 9400}
    assert buckets["31-60 days"]["outstanding"] == 6000
    assert buckets["90+ days"]["invoices"] == 0


def test_the_reports_page_shows_unpaid_invoices_and_exports_decimals(app, admin, admin_client):
    repair = _billed_repair(admin, fee=6575)
    db.session.commit()
    html = admin_client.get("/admin/reports/").get_data(as_text=True)
    assert "Unpaid invoices by age" in html and repair.reference in html and "$78.90" in html
    csv_text = admin_client.get("/admin/reports/unpaid_invoices.csv").get_data(as_text=True)
    header, line = csv_text.splitlines()
    assert header == ("number,bill_to,repair,issued,age_days,ageing,total,outstanding,currency")
    assert line.endswith(",0,0-30 days,78.90,78.90,USD") and repair.reference in line
