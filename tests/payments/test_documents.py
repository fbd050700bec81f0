"""PDF invoices and receipts: what they say (text extracted) and who may download them."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pytest
from pypdf import PdfReader

from fixmyphone.extensions import db
from fixmyphone.models import QuoteStatus
from fixmyphone.services import documents
from fixmyphone.services.billing import credit_notes, invoices, payments
from tests import factories
from tests.conftest import client_for

YEAR = datetime.now(UTC).year


@pytest.fixture
def app_settings():
    return {
        "TAX_RATE_BP": 2000,
        "SHOP_CURRENCY": "eur",
        "SHOP_NAME": "Pixel Fixers",
        "SHOP_ADDRESS": "5 Rue de la Paix, Paris",
    }


def _text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


@pytest.fixture
def billed(app, customer):
    admin = factories.UserFactory(role="admin")
    request = factories.ServiceRequestFactory(
        customer=customer,
        status="quality_check",
        quote_amount=12345,
        quote_currency="eur",
        quote_details="Battery swap",
        quote_status=QuoteStatus.APPROVED,
    )
    invoice = invoices.issue_invoice(request, admin)
    payment = payments.record_offline_payment(
        request, amount=invoice.total, method="cash", actor=admin, reference="TILL-9"
    )
    payments.verify_payment(payment, admin)
    db.session.commit()
    return request, invoice, payment


def test_the_invoice_pdf_shows_number_lines_tax_and_total_in_euro(billed):
    request, invoice, _ = billed

    text = _text(documents.render_invoice(invoice.id))

    assert f"Invoice INV-{YEAR}-00001" in text
    assert "Pixel Fixers" in text and "5 Rue de la Paix, Paris" in text
    assert request.reference in text
    assert "Repair as quoted: Battery swap" in text
    assert "€123.45" in text  # subtotal / line
    assert "Tax (20%)" in text
    assert "€24.69" in text  # 12345 × 20 % = 2469 (half up)
    assert "€148.14" in text  # total
    assert invoice.customer.full_name in text


def test_the_receipt_pdf_shows_amount_method_and_invoice(billed):
    _request, invoice, payment = billed

    text = _text(documents.render_receipt(payment.id))

    assert f"Receipt RCT-{payment.id:06d}" in text
    assert "€148.14" in text
    assert "Cash" in text and "TILL-9" in text
    assert invoice.number in text


def test_a_credit_note_pdf_names_the_invoice_it_corrects(billed):
    _request, invoice, _ = billed
    admin = factories.UserFactory(role="admin")
    note = credit_notes.issue_credit_note(invoice, amount=1200, reason="Discount", actor=admin)
    text = _text(documents.render_invoice(note.id))
    assert f"Credit note INV-{YEAR}-00002" in text
    assert invoice.number in text
    assert "€12.00" in text


def test_pound_sign_renders(app, billed):
    app.config["SHOP_CURRENCY"] = "gbp"
    _request, _invoice, payment = billed
    payment.currency = "gbp"
    assert "£148.14" in _text(documents.render_receipt(payment.id))
    db.session.rollback()


def test_the_owner_and_staff_download_and_others_get_404(app, billed, customer, customer_client):
    _request, invoice, payment = billed
    invoice_url = f"/documents/invoice/{invoice.id}.pdf"
    receipt_url = f"/documents/receipt/{payment.id}.pdf"

    own = customer_client.get(invoice_url)
    assert own.status_code == 200
    assert own.mimetype == "application/pdf"
    assert own.data.startswith(b"%PDF-")
    assert customer_client.get(receipt_url).status_code == 200

    stranger = factories.CustomerFactory()
    staff = factories.UserFactory(role="admin")
    tech = factories.TechnicianFactory()
    db.session.commit()
    other_client, _ = client_for(app, stranger)
    assert other_client.get(invoice_url).status_code == 404
    assert other_client.get(receipt_url).status_code == 404
    staff_client, _ = client_for(app, staff)
    assert staff_client.get(invoice_url).status_code == 200
    assert staff_client.get(receipt_url).status_code == 200
    # A technician reaches the documents of the repairs assigned to them only.
    tech_client, _ = client_for(app, tech)
    assert tech_client.get(invoice_url).status_code == 404
    assert tech_client.get(receipt_url).status_code == 404
    _request.technician = tech
    assert tech_client.get(invoice_url).status_code == 200
    assert tech_client.get(receipt_url).status_code == 200

    anonymous = app.test_client().get(invoice_url)
    assert anonymous.status_code == 302 and "/account/login" in anonymous.headers["Location"]
    assert customer_client.get("/documents/invoice/999999.pdf").status_code == 404


def test_a_pending_payment_has_no_receipt(app, customer, customer_client):
    admin = factories.UserFactory(role="admin")
    request = factories.ServiceRequestFactory(customer=customer)
    payment = payments.record_offline_payment(request, amount=500, method="cash", actor=admin)
    db.session.commit()
    assert customer_client.get(f"/documents/receipt/{payment.id}.pdf").status_code == 404


def test_documents_are_listed_for_the_customer(billed, customer_client):
    _request, invoice, payment = billed
    html = customer_client.get("/account/documents").get_data(as_text=True)
    assert invoice.number in html
    assert f"/documents/invoice/{invoice.id}.pdf" in html
    assert f"/documents/receipt/{payment.id}.pdf" in html
