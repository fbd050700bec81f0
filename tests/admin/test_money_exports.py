"""Spreadsheet exports write money as decimal amounts with the currency code, not cents."""

from __future__ import annotations

from fixmyphone.extensions import db
from fixmyphone.services import payments
from tests import factories

from .conftest import client_for


def test_payments_export_has_decimal_amounts_and_the_currency(app):
    client, admin = client_for(app, "admin")
    repair = factories.ServiceRequestFactory()
    cash = payments.record_offline_payment(repair, amount=7900, method="cash", actor=admin)
    payments.verify_payment(cash, admin)
    db.session.commit()
    text = client.get("/admin/payments/export/csv/").get_data(as_text=True)
    header, row = text.splitlines()[:2]
    assert header.split(",")[-1] == "Currency"
    assert ",79.00," in row and row.endswith(",USD")
    assert "7900" not in row and "$" not in row


def test_parts_export_has_decimal_prices_and_the_currency(app):
    client, _ = client_for(app, "admin")
    factories.PartFactory(sku="CASE-1", price=1999)
    db.session.commit()
    text = client.get("/admin/parts/export/csv/").get_data(as_text=True)
    header, row = text.splitlines()[:2]
    assert header.split(",")[-1] == "Currency"
    assert ",19.99," in row and row.endswith(",USD")
