"""Spreadsheet exports write money as decimal amounts with the currency code, not cents."""

from __future__ import annotations

from fixmyphone.extensions import db
from fixmyphone.services.billing import payments
from tests import factories
from tests.conftest import client_for


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


def test_part_prices_are_typed_and_shown_as_money(app):
    import sqlalchemy as sa

    from fixmyphone.models import Part

    from .conftest import post_form

    client, _ = client_for(app, "admin")
    url = "/admin/parts/new/"
    response = post_form(
        client,
        url,
        url,
        sku="CASE-2",
        name="Clear case",
        cost="4.50",
        price="19.99",
        reorder_level="1",
    )
    assert response.status_code == 302
    part = db.session.scalar(sa.select(Part).where(Part.sku == "CASE-2"))
    assert (part.cost, part.price) == (450, 1999)
    edit = f"/admin/parts/edit/?id={part.id}"
    html = client.get(edit).get_data(as_text=True)
    assert 'value="19.99"' in html and "minor units" not in html
    bad = post_form(
        client,
        edit,
        edit,
        sku="CASE-2",
        name="Clear case",
        cost="4.50",
        price="a lot",
        reorder_level="1",
    )
    assert bad.status_code == 200 and "Give an amount such as 49.99." in bad.get_data(as_text=True)
    db.session.expire_all()
    assert db.session.get(Part, part.id).price == 1999
