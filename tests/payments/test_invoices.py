"""Invoices: lines, per-line tax rounded half up, gap-free numbers, immutability, credit notes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, Forbidden, ValidationFailed
from fixmyphone.extensions import db
from fixmyphone.models import (
    Invoice,
    InvoiceLine,
    QuoteStatus,
    RequestPart,
)
from fixmyphone.services.billing import balances, credit_notes, invoices, issuing, labour, totals
from tests import factories
from tests.conftest import make_app

YEAR = datetime.now(UTC).year


@pytest.fixture
def app_settings():
    return {"TAX_RATE_BP": 1750, "SHOP_CURRENCY": "eur"}


@pytest.fixture
def admin(app):
    return factories.UserFactory(role="admin")


def _repair(customer=None, *, quote=10000, **kwargs):
    return factories.ServiceRequestFactory(
        customer=customer or factories.CustomerFactory(),
        status="quality_check",
        quote_amount=quote,
        quote_currency="eur",
        quote_details="Screen replacement",
        quote_status=QuoteStatus.APPROVED if quote else "none",
        **kwargs,
    )


def _use_part(request, *, unit_price: int, quantity: int = 1, status: str = "consumed"):
    part = factories.PartFactory()
    line = RequestPart(
        service_request=request,
        part=part,
        quantity=quantity,
        unit_price=unit_price,
        status=status,
    )
    db.session.add(line)
    db.session.flush()
    return line


@pytest.mark.parametrize(
    "net, rate, tax",
    [(60, 1750, 11), (20, 1750, 4), (1234, 2000, 247), (1, 5000, 1), (0, 2000, 0), (99, 0, 0)],
)
def test_tax_is_per_line_and_rounded_half_up(net, rate, tax):
    assert totals.tax_for(net, rate) == tax


def test_invoice_from_quote_parts_and_labour(app, admin):
    request = _repair()
    _use_part(request, unit_price=60, quantity=2)
    _use_part(request, unit_price=999, status="released")  # not used: not billed
    labour.record_labour(request, description="Board repair", amount=2525, minutes=45, actor=admin)

    invoice = invoices.issue_invoice(request, admin)

    assert invoice.number == f"INV-{YEAR}-00001"
    assert invoice.status == "issued" and invoice.issued_at is not None
    assert invoice.currency == "eur"
    assert [(line.net_amount, line.tax_amount) for line in invoice.lines] == [
        (10000, 1750),
        (120, 21),
        (2525, 442),
    ]
    assert invoice.lines[0].description == "Repair as quoted: Screen replacement"
    assert "Board repair (45 min)" in invoice.lines[2].description
    assert (invoice.subtotal, invoice.tax, invoice.total) == (12645, 2213, 14858)
    assert balances.balance_due(request) == 14858


def test_warranty_claims_cost_nothing_for_labour_and_parts(app, admin):
    original = _repair()
    # As warranty.open_claim leaves a claim: free by default, with the reason.
    claim = _repair(
        quote=None, warranty_of=original, no_charge=True, no_charge_reason="Warranty rework"
    )
    _use_part(claim, unit_price=5000)
    labour.record_labour(claim, description="Rework", amount=3000, actor=admin)

    invoice = invoices.issue_invoice(claim, admin)

    assert invoice.total == 0
    assert all(line.net_amount == 0 and line.tax_amount == 0 for line in invoice.lines)
    assert len(invoice.lines) == 2
    assert balances.balance_due(claim) == 0


def test_nothing_to_invoice_and_only_one_open_invoice(app, admin, technician, customer):
    with pytest.raises(Conflict, match="Nothing to invoice"):
        invoices.issue_invoice(_repair(quote=None), admin)
    request = _repair()
    invoices.issue_invoice(request, admin)
    with pytest.raises(Conflict, match="already has invoice"):
        invoices.issue_invoice(request, admin)
    with pytest.raises(Forbidden):
        invoices.issue_invoice(_repair(), customer)


def test_numbers_run_without_gaps_and_credit_notes_take_their_own(app, admin):
    first = invoices.issue_invoice(_repair(), admin)
    second = invoices.issue_invoice(_repair(), admin)
    db.session.commit()

    note = credit_notes.issue_credit_note(first, amount=2350, reason="Goodwill", actor=admin)

    assert [first.number, second.number, note.number] == [
        f"INV-{YEAR}-00001",
        f"INV-{YEAR}-00002",
        f"INV-{YEAR}-00003",
    ]
    assert note.kind == "credit_note" and note.credit_for_id == first.id
    assert note.total == 2350
    assert note.subtotal + note.tax == 2350
    assert note.subtotal == 2000  # the invoice's own net/tax proportion (11750 = 10000 + 1750)
    assert balances.balance_due(first.service_request) == 11750 - 2350


def test_credit_notes_never_exceed_the_invoice(app, admin, technician):
    invoice = invoices.issue_invoice(_repair(), admin)
    credit_notes.issue_credit_note(invoice, amount=11000, reason="Part returned", actor=admin)
    with pytest.raises(ValidationFailed, match="At most"):
        credit_notes.issue_credit_note(invoice, amount=751, reason="Again", actor=admin)
    with pytest.raises(Forbidden):
        credit_notes.issue_credit_note(invoice, amount=1, reason="x", actor=technician)
    full = credit_notes.issue_credit_note(invoice, amount=750, reason="Rest", actor=admin)
    assert full.total == 750
    # Fully credited: a corrected invoice may now be issued.
    again = invoices.issue_invoice(invoice.service_request, admin)
    assert again.number == f"INV-{YEAR}-00004"


def _issued(admin) -> Invoice:
    invoice = invoices.issue_invoice(_repair(), admin)
    db.session.commit()
    return invoice


@pytest.mark.parametrize(
    "change",
    [
        lambda inv: setattr(inv, "total", 1),
        lambda inv: setattr(inv, "number", "INV-HACK"),
        lambda inv: setattr(inv, "status", "draft"),
        lambda inv: setattr(inv.lines[0], "unit_amount", 1),
        lambda inv: inv.lines.append(
            InvoiceLine(description="x", quantity=1, unit_amount=1, net_amount=1, tax_amount=0)
        ),
        lambda inv: db.session.delete(inv.lines[0]),
        lambda inv: db.session.delete(inv),
    ],
    ids=["total", "number", "status", "line", "add-line", "delete-line", "delete"],
)
def test_issued_invoices_are_immutable(app, admin, change):
    invoice = _issued(admin)
    change(invoice)
    with pytest.raises(issuing.InvoiceImmutable):
        db.session.flush()
    db.session.rollback()
    fresh = db.session.get(Invoice, invoice.id)
    assert fresh.total == 11750 and len(fresh.lines) == 1 and fresh.status == "issued"


@pytest.mark.postgres
def test_concurrent_invoicing_has_no_gaps_or_duplicates(require_postgres, tmp_path):
    app = make_app(require_postgres, tmp_path / "pg", TAX_RATE_BP=2000)
    count = 12
    with app.app_context():
        admin = factories.UserFactory(role="admin")
        ids = [_repair().id for _ in range(count)]
        admin_id = admin.id
        db.session.commit()
    numbers: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(count)

    def issue(request_id: int) -> None:
        with app.app_context():
            try:
                from fixmyphone.models import ServiceRequest, User

                barrier.wait()
                request = db.session.get(ServiceRequest, request_id)
                invoice = invoices.issue_invoice(request, db.session.get(User, admin_id))
                db.session.commit()
                numbers.append(invoice.number)
            except BaseException as exc:  # noqa: BLE001
                errors.append(exc)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=issue, args=(i,)) for i in ids]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)

    assert errors == []
    assert sorted(numbers) == [f"INV-{YEAR}-{n:05d}" for n in range(1, count + 1)]
    with app.app_context():
        stored = db.session.scalars(sa.select(Invoice.number).order_by(Invoice.number)).all()
        assert stored == sorted(numbers)
        db.session.remove()
        db.engine.dispose()
