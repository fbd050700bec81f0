"""The counter checkout: find the repair, take its balance (cash with change, card, transfer,
split), complete it when paid, e-mail the receipt; walk-in accessory sales; bad input."""

from __future__ import annotations

from datetime import datetime

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, NotFound, ValidationFailed
from fixmyphone.extensions import db
from fixmyphone.models import (
    AuditLog,
    CustomerProfile,
    Invoice,
    Notification,
    Part,
    Payment,
    QuoteStatus,
    ServiceRequest,
    StockMovement,
)
from fixmyphone.services import delivery, inventory
from fixmyphone.services.billing import (
    balances,
    counter,
    invoices,
    payments,
    refunds,
    sales,
)
from tests import factories
from tests.conftest import client_for, csrf_token
from tests.querycount import count_queries

HOME = "/admin/checkout/"


@pytest.fixture
def app_settings():
    return {"SHOP_CURRENCY": "usd", "TAX_RATE_BP": 0}


def ready_repair(
    *,
    quote: int = 7900,
    technician=None,
    invoiced: bool = True,
    status="ready_for_pickup",
    **fields,
):
    """A repair ready for pickup with an approved quote and (by default) its issued invoice."""
    customer = fields.pop("customer", None) or factories.CustomerFactory(
        full_name="Robin Counter",
        customer_profile=CustomerProfile(phone="+1 (555) 010-4477"),
    )
    req = factories.ServiceRequestFactory(
        customer=customer,
        technician=technician,
        status=status,
        quote_amount=quote,
        quote_currency="usd",
        quote_details="Screen replacement",
        quote_status=QuoteStatus.APPROVED,
        **fields,
    )
    if invoiced:
        invoices.issue_invoice(req, factories.UserFactory(role="admin"))
    db.session.commit()
    return req


def page(req: ServiceRequest) -> str:
    return f"{HOME}repair/{req.id}"


def pay(client, req, **fields):
    """POST the take-payment form with the CSRF token of the repair's checkout page."""
    token = csrf_token(client, page(req))
    return client.post(page(req) + "/pay", data={"csrf_token": token, **fields})


def payment_rows():
    return db.session.scalars(sa.select(Payment).order_by(Payment.id)).all()


# ---------------------------------------------------------------- finding the repair


def test_search_by_reference_name_phone_email_and_the_job_ticket_qr(app):
    admin = factories.UserFactory(role="admin")
    req = ready_repair()
    other = factories.ServiceRequestFactory(brand="Samsung")
    db.session.commit()
    ref = req.reference

    def found(text):
        return [r.id for r in counter.find_repairs(admin, text)]

    assert found(ref) == [req.id]
    assert found(ref.lower().replace("fmp-", "")) == [req.id]  # typed short, lower case
    assert found("robin counter") == [req.id]
    assert found("Counter") == [req.id]
    assert found(req.customer.email.upper()) == [req.id]
    for phone in ("+1 (555) 010-4477", "555 010 4477", "5550104477", "001 555 010 4477"):
        assert found(phone) == [req.id], phone
    # The QR on the job ticket is the tracking link; the shop may have moved to a new address.
    assert found(f"http://shop.test/track/{req.tracking_token}") == [req.id]
    assert found(f"https://old-name.example/track/{req.tracking_token}/") == [req.id]
    assert found(f"/track/{req.tracking_token}") == [req.id]
    assert found("http://shop.test/track/not-a-real-token-at-all") == []
    assert found("Samsung") == [other.id]
    assert found("nobody-like-this") == []
    for blank in ("", "   ", None):
        with pytest.raises(ValidationFailed):
            counter.find_repairs(admin, blank)
    with pytest.raises(ValidationFailed):
        counter.find_repairs(admin, "x" * 301)


def test_ready_repairs_come_first_in_the_results(app):
    admin = factories.UserFactory(role="admin")
    customer = factories.CustomerFactory(full_name="Sam Twice")
    older_open = factories.ServiceRequestFactory(customer=customer, status="in_progress")
    ready = ready_repair(customer=customer)
    newer_open = factories.ServiceRequestFactory(customer=customer, status="pending")
    db.session.commit()
    assert [r.id for r in counter.find_repairs(admin, "sam twice")] == [
        ready.id,
        newer_open.id,
        older_open.id,
    ]


def test_the_search_box_opens_the_one_repair_it_finds(app):
    client, _ = client_for(app, "admin")
    req = ready_repair()
    response = client.get(HOME, query_string={"q": f"http://shop.test/track/{req.tracking_token}"})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(page(req))
    response = client.get(HOME, query_string={"q": req.reference.lower()})
    assert response.headers["Location"].endswith(page(req))


def test_several_matches_are_listed_with_their_balance(app):
    client, _ = client_for(app, "admin")
    customer = factories.CustomerFactory(full_name="Alex Many")
    first = ready_repair(customer=customer, quote=7900)
    second = ready_repair(customer=customer, quote=2500)
    response = client.get(HOME, query_string={"q": "alex many"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert first.reference in html and second.reference in html
    assert "$79.00" in html and "$25.00" in html


@pytest.mark.parametrize(
    "text, status, message",
    [
        ("FMP-ZZZZZZ", 404, "Nothing matches “FMP-ZZZZZZ”"),
        ("   ", 422, "Type a reference"),
        ("x" * 400, 422, "too long"),
    ],
)
def test_a_search_that_finds_nothing_says_so_on_the_page(app, text, status, message):
    client, _ = client_for(app, "admin")
    ready_repair()
    response = client.get(HOME, query_string={"q": text})
    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert message in html and 'id="q-error"' in html


def test_the_counter_lists_devices_waiting_to_go_home(app):
    client, _ = client_for(app, "admin")
    ready = ready_repair()
    busy = factories.ServiceRequestFactory(status="in_progress")
    shipped = factories.ServiceRequestFactory(status="dispatched")  # already left the shop
    db.session.commit()
    html = client.get(HOME).get_data(as_text=True)
    queue = html.split('id="handover-queue"')[1]
    assert ready.reference in queue
    assert busy.reference not in queue and shipped.reference not in queue
    assert "$79.00" in queue
    assert 'id="waiting-count">1<' in html


def test_a_long_queue_shows_the_longest_waiting_and_says_how_many(app):
    admin = factories.UserFactory(role="admin")
    for _ in range(counter.SEARCH_LIMIT + 2):
        factories.ServiceRequestFactory(status="ready_for_pickup")
    db.session.commit()
    shown, waiting = counter.ready_for_handover(admin)
    assert (len(shown), waiting) == (counter.SEARCH_LIMIT, counter.SEARCH_LIMIT + 2)


# ---------------------------------------------------------------- who may use it


def test_roles_customers_are_refused_and_anonymous_users_log_in(app):
    req = ready_repair()
    anonymous, _ = client_for(app, "anonymous")
    response = anonymous.get(page(req))
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]
    customer, _ = client_for(app, req.customer)
    assert customer.get(HOME).status_code == 403
    assert customer.get(page(req)).status_code == 403


def test_a_technician_works_on_their_own_repairs_only(app):
    mine_tech, other_tech = factories.TechnicianFactory(), factories.TechnicianFactory()
    mine = ready_repair(technician=mine_tech)
    theirs = ready_repair(technician=other_tech, customer=factories.CustomerFactory())
    client, _ = client_for(app, mine_tech)
    assert client.get(page(mine)).status_code == 200
    assert client.get(page(theirs)).status_code == 404
    assert client.get(HOME, query_string={"q": theirs.reference}).status_code == 404
    token = csrf_token(client, page(mine))
    response = client.post(
        page(theirs) + "/pay", data={"csrf_token": token, "method": "cash", "amount": "79"}
    )
    assert response.status_code == 404
    assert payment_rows() == []


def test_the_menu_and_the_repair_page_lead_to_the_checkout(app):
    client, _ = client_for(app, "admin")
    req = ready_repair()
    dashboard = client.get("/admin/").get_data(as_text=True)
    assert f'href="{HOME}"' in dashboard
    detail = client.get(f"/admin/requests/view/{req.id}").get_data(as_text=True)
    assert f'href="{page(req)}"' in detail


def test_a_payment_needs_the_csrf_token(app):
    client, _ = client_for(app, "admin")
    req = ready_repair()
    response = client.post(page(req) + "/pay", data={"method": "cash", "amount": "79"})
    assert response.status_code == 400
    assert payment_rows() == []


# ---------------------------------------------------------------- taking money


def test_the_page_shows_lines_tax_and_balance(app):
    app.config["TAX_RATE_BP"] = 2000
    client, _ = client_for(app, "admin")
    req = ready_repair(quote=10000)
    html = client.get(page(req)).get_data(as_text=True)
    invoice = db.session.scalar(sa.select(Invoice))
    assert invoice.number in html
    assert "Repair as quoted: Screen replacement" in html
    assert "$100.00" in html and "$20.00" in html  # net and tax
    assert 'id="balance-due">$120.00<' in html


def test_cash_with_change_completes_the_repair(app):
    client, admin = client_for(app, "admin")
    req = ready_repair(quote=7900)

    response = pay(client, req, method="cash", amount="", tendered="100", complete="y")

    assert response.status_code == 302 and response.headers["Location"].endswith(page(req))
    [payment] = payment_rows()
    assert (payment.amount, payment.method, payment.status) == (7900, "cash", "succeeded")
    assert payment.recorded_by_id == admin.id and payment.verified_by_id == admin.id
    db.session.refresh(req)
    assert req.status == "completed" and balances.balance_due(req) == 0
    html = client.get(page(req)).get_data(as_text=True)
    assert 'id="change-due">$21.00<' in html
    assert "Tendered $100.00" in html and "is completed" in html
    assert 'id="checkout-status">Completed<' in html
    # Shown once, like a flash message.
    assert "change-due" not in client.get(page(req)).get_data(as_text=True)
    audit = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "counter_payment"))
    assert audit.after == {"amount": 7900, "tendered": 10000, "change": 2100, "method": "cash"}


def test_split_payments_leave_a_balance_then_complete(app):
    client, _ = client_for(app, "admin")
    req = ready_repair(quote=7900)

    pay(client, req, method="cash", amount="30", tendered="50", complete="y")
    db.session.refresh(req)
    assert req.status == "ready_for_pickup" and balances.balance_due(req) == 4900
    html = client.get(page(req)).get_data(as_text=True)
    assert 'id="change-due">$20.00<' in html
    assert 'id="not-completed"' in html  # the completion rule refused, with its reason
    assert 'id="balance-due">$49.00<' in html

    pay(client, req, method="card_terminal", amount="", reference="SLIP-881", complete="y")
    rows = payment_rows()
    assert [(p.method, p.amount, p.status, p.reference) for p in rows] == [
        ("cash", 3000, "succeeded", None),
        ("card_terminal", 4900, "succeeded", "SLIP-881"),
    ]
    db.session.refresh(req)
    assert req.status == "completed" and balances.balance_due(req) == 0
    html = client.get(page(req)).get_data(as_text=True)
    assert "change-due" not in html and "is completed" in html


def test_without_the_checkbox_the_repair_waits_and_can_be_completed_later(app):
    client, _ = client_for(app, "admin")
    req = ready_repair(quote=5000)
    pay(client, req, method="bank_transfer", amount="50.00", reference="TRX-1")
    db.session.refresh(req)
    assert req.status == "ready_for_pickup" and balances.balance_due(req) == 0
    html = client.get(page(req)).get_data(as_text=True)
    assert 'id="complete-form"' in html and 'id="take-payment"' not in html
    token = csrf_token(client, page(req))
    response = client.post(page(req) + "/complete", data={"csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(req)
    assert req.status == "completed"


def test_a_technicians_payment_waits_for_an_admin(app):
    tech = factories.TechnicianFactory()
    admin = factories.UserFactory(role="admin")
    req = ready_repair(quote=7900, technician=tech)
    client, _ = client_for(app, tech)

    pay(client, req, method="cash", tendered="80", complete="y")

    [payment] = payment_rows()
    assert (payment.status, payment.recorded_by_id, payment.verified_by_id) == (
        "pending",
        tech.id,
        None,
    )
    db.session.refresh(req)
    assert req.status == "ready_for_pickup" and balances.balance_due(req) == 7900
    html = client.get(page(req)).get_data(as_text=True)
    assert 'id="change-due">$1.00<' in html
    assert "waits for an admin’s verification" in html
    assert "the repair can be completed once it is verified" in html
    assert 'id="awaiting">$79.00 recorded' in html
    assert 'id="take-payment"' not in html  # nothing is left to take
    alert = db.session.scalar(
        sa.select(Notification).where(
            Notification.event == "payment_to_verify", Notification.user_id == admin.id
        )
    )
    assert alert is not None and alert.read_at is None

    # A second take of the same balance is refused while the first waits.
    token = csrf_token(client, page(req))
    again = client.post(
        page(req) + "/pay", data={"csrf_token": token, "method": "cash", "amount": "79"}
    )
    assert again.status_code == 409
    assert "waits for an admin" in again.get_data(as_text=True)
    assert len(payment_rows()) == 1

    payments.verify_payment(payment, admin)
    db.session.commit()
    assert balances.balance_due(req) == 0


def test_the_payments_name_who_took_them_read_with_the_page(app):
    tech = factories.TechnicianFactory(full_name="Tina Till")
    req = ready_repair(quote=7900, technician=tech)
    pay(client_for(app, tech)[0], req, method="cash", amount="30")
    admin_client, _ = client_for(app, factories.UserFactory(role="admin"))
    req_id = req.id
    db.session.remove()  # nothing already loaded: the page reads the people itself

    with count_queries() as statements:
        html = admin_client.get(f"{HOME}repair/{req_id}").get_data(as_text=True)
    assert "Robin Counter" in html  # the customer
    assert "<td>Tina Till</td>" in html  # who took the $30.00
    # The only read of users on their own is the viewer's login; no lazy load per payment.
    assert sum(s.lstrip().upper().startswith("SELECT USERS.") for s in statements) == 1


def test_an_admins_counter_payment_counts_at_once_and_leaves_no_alert(app):
    client, admin = client_for(app, "admin")
    other_admin = factories.UserFactory(role="admin")
    req = ready_repair(quote=7900)
    pay(client, req, method="card_terminal", amount="79")
    alerts = db.session.scalars(
        sa.select(Notification).where(Notification.event == "payment_to_verify")
    ).all()
    assert {admin.id, other_admin.id} <= {a.user_id for a in alerts}
    assert all(a.read_at is not None for a in alerts)
    received = db.session.scalar(
        sa.select(Notification).where(Notification.event == "payment_received")
    )
    assert received is not None and received.user_id == req.customer_id


BAD_PAYMENTS = [
    ({"method": "cash", "amount": "-5"}, 422, "amount", "Enter an amount"),
    ({"method": "cash", "amount": "abc"}, 422, "amount", "Enter an amount"),
    ({"method": "cash", "amount": "0"}, 422, "amount", "Enter an amount"),
    ({"method": "cash", "amount": "1e9"}, 422, "amount", "Enter an amount"),
    ({"method": "cash", "amount": "99999999999"}, 422, "amount", "Enter an amount"),
    ({"method": "cash", "amount": "inf"}, 422, "amount", "Enter an amount"),
    ({"method": "cash", "amount": "12.345"}, 422, "amount", "Enter an amount"),
    ({"method": "cash", "tendered": "-100"}, 422, "tendered", "Enter an amount"),
    ({"method": "cash", "tendered": "NaN"}, 422, "tendered", "Enter an amount"),
    ({"method": "cash", "tendered": "50"}, 422, "tendered", "less than the amount to pay"),
    ({"method": "cash", "amount": "79", "tendered": "78.99"}, 422, "tendered", "less than"),
    ({"method": "cash", "amount": "80"}, 422, "amount", "At most $79.00"),
    ({"method": "card_terminal", "amount": "500"}, 422, "amount", "At most $79.00"),
    ({"method": "bitcoin", "amount": "79"}, 422, "method", "Choose how the customer pays"),
    ({"method": "bank_transfer", "reference": "R" * 101}, 422, "reference", "At most 100"),
]


@pytest.mark.parametrize("fields, status, field, message", BAD_PAYMENTS)
def test_bad_input_is_a_form_error_and_nothing_is_saved(app, fields, status, field, message):
    client, _ = client_for(app, "admin")
    req = ready_repair(quote=7900)

    response = pay(client, req, complete="y", **fields)

    assert response.status_code == status
    html = response.get_data(as_text=True)
    assert 'id="checkout-error"' in html
    assert message in html
    assert f'id="{field}-error"' in html or field == "method"
    assert payment_rows() == []
    db.session.refresh(req)
    assert req.status == "ready_for_pickup"
    # What was typed is still in the form.
    for name, value in fields.items():
        if name != "method":
            assert f'value="{value}"' in html


def test_the_service_refuses_bad_amounts_without_saving(app):
    admin = factories.UserFactory(role="admin")
    req = ready_repair(quote=7900)
    with pytest.raises(ValidationFailed) as err:
        counter.take_payment(req, admin, method="cheque", amount="-1", tendered="x")
    assert set(err.value.fields) == {"method", "amount"}
    with pytest.raises(ValidationFailed) as err:
        counter.take_payment(req, admin, method="cash", amount="x", tendered="y")
    assert set(err.value.fields) == {"amount", "tendered"}
    db.session.rollback()
    assert payment_rows() == []


def test_nothing_to_pay_is_said_on_the_page(app):
    client, _ = client_for(app, "admin")
    req = ready_repair(quote=7900, invoiced=False)
    html = client.get(page(req)).get_data(as_text=True)
    assert 'id="take-payment"' not in html and 'id="uninvoiced"' in html
    response = pay(client, req, method="cash", amount="10")
    assert response.status_code == 409
    assert f"There is nothing to pay on {req.reference}" in response.get_data(as_text=True)
    assert payment_rows() == []
    with pytest.raises(Conflict):
        counter.take_payment(req, factories.UserFactory(role="admin"), method="cash")


def test_issue_the_invoice_at_the_counter_when_there_is_none(app):
    client, _ = client_for(app, "admin")
    req = ready_repair(quote=7900, invoiced=False)
    html = client.get(page(req)).get_data(as_text=True)
    assert 'id="draft-lines"' in html and "$79.00" in html and "Issue invoice" in html
    token = csrf_token(client, page(req))
    response = client.post(page(req) + "/invoice", data={"csrf_token": token})
    assert response.status_code == 302
    invoice = db.session.scalar(sa.select(Invoice))
    assert invoice.number == f"INV-{datetime.now().year}-00001" and invoice.total == 7900
    html = client.get(page(req)).get_data(as_text=True)
    assert invoice.number in html and 'id="balance-due">$79.00<' in html
    assert 'id="take-payment"' in html
    # A second invoice is refused with the reason, not a 500.
    token = csrf_token(client, page(req))
    client.post(page(req) + "/invoice", data={"csrf_token": token})
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 1
    assert "already has invoice" in client.get(page(req)).get_data(as_text=True)


def test_completion_refused_by_the_workflow_keeps_the_payment_and_says_why(app):
    client, _ = client_for(app, "admin")
    req = ready_repair(quote=7900, status="quality_check")
    pay(client, req, method="cash", tendered="79", complete="y")
    [payment] = payment_rows()
    assert payment.status == "succeeded"
    db.session.refresh(req)
    assert req.status == "quality_check"
    html = client.get(page(req)).get_data(as_text=True)
    assert 'id="not-completed"' in html and "Cannot move" in html


# ---------------------------------------------------------------- receipts


def test_print_and_email_the_receipt(app):
    client, admin = client_for(app, "admin")
    req = ready_repair(quote=7900)
    pay(client, req, method="cash", tendered="79")
    [payment] = payment_rows()
    html = client.get(page(req)).get_data(as_text=True)
    assert f'href="/documents/receipt/{payment.id}.pdf"' in html
    pdf = client.get(f"/documents/receipt/{payment.id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")

    token = csrf_token(client, page(req))
    response = client.post(f"{HOME}receipt/{payment.id}/email", data={"csrf_token": token})

    assert response.status_code == 302
    sent = db.session.scalar(sa.select(Notification).where(Notification.event == "receipt_sent"))
    assert (sent.channel, sent.recipient, sent.user_id) == (
        "email",
        req.customer.email,
        req.customer_id,
    )
    assert sent.context["attachments"] == [{"kind": "receipt", "payment_id": payment.id}]
    assert "$79.00" in sent.body
    message = delivery.render_email(sent)
    parts = [part.get_filename() for part in message.walk() if part.get_filename()]
    assert parts == [f"receipt-{payment.id}.pdf"]
    assert f"on its way to {req.customer.email}" in client.get(page(req)).get_data(as_text=True)


def test_a_pending_payment_has_no_receipt_to_email(app):
    tech = factories.TechnicianFactory()
    req = ready_repair(technician=tech)
    client, _ = client_for(app, tech)
    pay(client, req, method="cash", tendered="79")
    [payment] = payment_rows()
    assert "once verified" in client.get(page(req)).get_data(as_text=True)
    with pytest.raises(Conflict):
        counter.email_receipt(payment, tech)
    token = csrf_token(client, page(req))
    client.post(f"{HOME}receipt/{payment.id}/email", data={"csrf_token": token})
    assert (
        db.session.scalar(sa.select(Notification).where(Notification.event == "receipt_sent"))
        is None
    )


def test_a_receipt_of_another_technicians_repair_cannot_be_emailed(app):
    tech = factories.TechnicianFactory()
    admin = factories.UserFactory(role="admin")
    theirs = ready_repair(technician=factories.TechnicianFactory())
    payment = counter.take_payment(theirs, admin, method="cash").payment
    db.session.commit()
    client, _ = client_for(app, tech)
    token = csrf_token(client, HOME)
    response = client.post(f"{HOME}receipt/{payment.id}/email", data={"csrf_token": token})
    assert response.status_code == 404
    with pytest.raises(NotFound):
        counter.get_repair(tech, theirs.id)


# ---------------------------------------------------------------- walk-in sales

SALE = HOME + "sale"
YEAR = datetime.now().year


@pytest.fixture
def shelf(app):
    """Two accessories for sale and a spare part that is not."""
    cable = factories.PartFactory(
        sku="CBL-USBC", name="USB-C cable", price=1200, on_hand=5, sellable=True
    )
    case = factories.PartFactory(
        sku="CASE-13", name="iPhone 13 case", price=1999, on_hand=2, sellable=True
    )
    screen = factories.PartFactory(sku="SCR-13", name="iPhone 13 screen", price=11900, on_hand=3)
    db.session.commit()
    return cable, case, screen


def sell_form(client, **fields):
    token = csrf_token(client, SALE)
    return client.post(SALE, data={"csrf_token": token, **fields})


def test_a_walk_in_sale_takes_stock_and_issues_a_numbered_invoice(app, shelf):
    cable, case, _ = shelf
    admin = factories.UserFactory(role="admin")
    ready_repair()  # the repair's invoice takes number 1 of the year

    sold = sales.sell(
        admin,
        [(str(cable.id), "2"), (str(case.id), "1"), ("", "1"), (str(cable.id), "1")],
        method="cash",
        tendered="80",
        bill_to_name="  Jamie Walker ",
    )
    db.session.commit()

    invoice = sold.invoice
    assert invoice.number == f"INV-{YEAR}-00002"
    assert (invoice.service_request_id, invoice.customer_id) == (None, None)
    assert invoice.bill_to_name == "Jamie Walker"
    assert [(line.description, line.quantity, line.net_amount) for line in invoice.lines] == [
        ("USB-C cable (CBL-USBC)", 3, 3600),
        ("iPhone 13 case (CASE-13)", 1, 1999),
    ]
    assert invoice.total == 5599
    db.session.refresh(cable)
    db.session.refresh(case)
    assert (cable.on_hand, case.on_hand) == (2, 1)
    moves = db.session.scalars(sa.select(StockMovement).where(StockMovement.kind == "sale")).all()
    assert {(m.part_id, abs(m.quantity), m.on_hand_after, m.note) for m in moves} == {
        (cable.id, 3, 2, f"Sold on {invoice.number}"),
        (case.id, 1, 1, f"Sold on {invoice.number}"),
    }
    payment = sold.payment
    assert (payment.invoice_id, payment.service_request_id, payment.customer_id) == (
        invoice.id,
        None,
        None,
    )
    assert (payment.amount, payment.tendered, payment.status) == (5599, 8000, "succeeded")
    assert (sold.tendered, sold.change) == (8000, 2401)
    assert balances.invoice_balance(invoice) == 0


def test_the_sale_screen_sells_and_shows_the_change_and_the_documents(app, shelf):
    cable, case, screen = shelf
    client, admin = client_for(app, "admin")
    html = client.get(SALE).get_data(as_text=True)
    assert "USB-C cable · $12.00 · 5 in stock" in html and "iPhone 13 case" in html
    assert "iPhone 13 screen" not in html  # not sold at the counter

    review = sell_form(
        client, part_id=[str(cable.id), str(case.id), ""], quantity=["2", "1", "1"], step="review"
    )
    assert review.status_code == 200
    assert 'id="sale-total">$43.99<' in review.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0

    response = sell_form(
        client,
        part_id=[str(cable.id), str(case.id), ""],
        quantity=["2", "1", "1"],
        method="cash",
        tendered="50",
        bill_to_name="Jamie Walker",
        step="sell",
    )

    invoice = db.session.scalar(sa.select(Invoice))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{SALE}/{invoice.id}")
    page_html = client.get(f"{SALE}/{invoice.id}").get_data(as_text=True)
    assert invoice.number == f"INV-{YEAR}-00001" in page_html
    assert 'id="change-due">$6.01<' in page_html
    assert "Jamie Walker" in page_html and 'id="sold-total">$43.99<' in page_html
    payment = db.session.scalar(sa.select(Payment))
    receipt = client.get(f"/documents/receipt/{payment.id}.pdf")
    assert receipt.status_code == 200 and receipt.data.startswith(b"%PDF")
    pdf = client.get(f"/documents/invoice/{invoice.id}.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")
    payments_list = client.get("/admin/payments/")
    assert payments_list.status_code == 200
    assert f"Sale {invoice.number}" in payments_list.get_data(as_text=True)
    assert f"{SALE}/{invoice.id}" in client.get(SALE).get_data(as_text=True)  # latest sales


def test_a_technicians_sale_waits_for_an_admin(app, shelf):
    cable, _, _ = shelf
    tech = factories.TechnicianFactory()
    admin = factories.UserFactory(role="admin")
    client, _ = client_for(app, tech)
    sell_form(client, part_id=[str(cable.id)], quantity=["1"], method="card_terminal", step="sell")
    payment = db.session.scalar(sa.select(Payment))
    assert (payment.status, payment.recorded_by_id) == ("pending", tech.id)
    html = client.get(f"{SALE}/{payment.invoice_id}").get_data(as_text=True)
    assert "waits for an admin’s verification" in html and 'id="receipt-pdf"' not in html
    alert = db.session.scalar(
        sa.select(Notification).where(
            Notification.event == "payment_to_verify", Notification.user_id == admin.id
        )
    )
    assert alert.subject.startswith(f"Sale INV-{YEAR}-00001: Card terminal payment of $12.00")
    assert "payment of $12.00 for counter sale INV-" in alert.body
    payments.verify_payment(payment, admin)
    db.session.commit()
    assert payment.status == "succeeded"
    assert balances.invoice_balance(payment.invoice) == 0


BAD_SALES = [
    ({"part_id": ["{cable}"], "quantity": ["6"]}, "only 5 in stock, 6 asked"),
    ({"part_id": ["{cable}", "{cable}"], "quantity": ["3", "3"]}, "only 5 in stock, 6 asked"),
    ({"part_id": ["{screen}"], "quantity": ["1"]}, "not sold at the counter"),
    ({"part_id": ["999999"], "quantity": ["1"]}, "not sold at the counter"),
    ({"part_id": ["abc"], "quantity": ["1"]}, "Choose each accessory from the list"),
    ({"part_id": ["{cable}"], "quantity": ["0"]}, "whole number from 1 to 99"),
    ({"part_id": ["{cable}"], "quantity": ["-1"]}, "whole number from 1 to 99"),
    ({"part_id": ["{cable}"], "quantity": ["1.5"]}, "whole number from 1 to 99"),
    ({"part_id": ["{cable}"], "quantity": ["100"]}, "whole number from 1 to 99"),
    ({"part_id": ["", ""], "quantity": ["1", "1"]}, "Add at least one accessory"),
    ({"part_id": ["{cable}"], "quantity": ["1"], "tendered": "11.99"}, "less than the total"),
    ({"part_id": ["{cable}"], "quantity": ["1"], "tendered": "-20"}, "Enter an amount"),
    ({"part_id": ["{cable}"], "quantity": ["1"], "tendered": "1e99"}, "Enter an amount"),
    ({"part_id": ["{cable}"], "quantity": ["1"], "method": "cheque"}, "Choose how the buyer"),
    ({"part_id": ["{cable}"], "quantity": ["1"], "bill_to_name": "N" * 121}, "At most 120"),
]


@pytest.mark.parametrize("fields, message", BAD_SALES)
def test_a_bad_sale_is_a_form_error_and_leaves_nothing_behind(app, shelf, fields, message):
    cable, case, screen = shelf
    client, _ = client_for(app, "admin")
    ids = {"{cable}": str(cable.id), "{screen}": str(screen.id)}
    data = {"method": "cash", "step": "sell", **fields}
    data["part_id"] = [ids.get(v, v) for v in fields["part_id"]]

    response = sell_form(client, **data)

    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="sale-error"' in html and message in html
    assert db.session.scalar(sa.select(sa.func.count(Invoice.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Payment.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(StockMovement.id))) == 0
    db.session.refresh(cable)
    assert cable.on_hand == 5
    # No number was used up: the next sale is still number 1 of the year.
    sold = sales.sell(
        factories.UserFactory(role="admin"), [(str(case.id), "1")], method="bank_transfer"
    )
    assert sold.invoice.number == f"INV-{YEAR}-00001"


def test_stock_taken_by_someone_else_meanwhile_refuses_the_sale(app, shelf):
    cable, _, _ = shelf
    admin = factories.UserFactory(role="admin")
    chosen = sales.basket([(str(cable.id), "5")])
    # Another till sells three between the basket and the sale's stock update.
    db.session.execute(sa.update(Part).where(Part.id == cable.id).values(on_hand=2))
    with pytest.raises(Conflict) as err:
        inventory.sell(cable, chosen.items[0][1], admin)
    assert "only 2 in stock, 5 asked" in err.value.message


def test_only_staff_see_a_sale_and_a_repair_invoice_is_not_a_sale(app, shelf):
    cable, _, _ = shelf
    admin = factories.UserFactory(role="admin")
    sold = sales.sell(admin, [(str(cable.id), "1")], method="cash")
    req = ready_repair()
    repair_invoice = db.session.scalar(
        sa.select(Invoice).where(Invoice.service_request_id == req.id)
    )
    db.session.commit()
    client, _ = client_for(app, "admin")
    assert client.get(f"{SALE}/{sold.invoice.id}").status_code == 200
    assert client.get(f"{SALE}/{repair_invoice.id}").status_code == 404
    customer, _ = client_for(app, "customer")
    assert customer.get(f"{SALE}/{sold.invoice.id}").status_code == 403
    assert customer.get(f"/documents/invoice/{sold.invoice.id}.pdf").status_code == 404


def test_a_walk_in_cash_sale_can_be_refunded(app, shelf):
    cable, _, _ = shelf
    admin = factories.UserFactory(role="admin")
    sold = sales.sell(admin, [(str(cable.id), "1")], method="cash")
    row = refunds.refund(sold.payment, amount=1200, actor=admin, reason="Returned unopened")
    db.session.commit()
    assert row.status == "succeeded"
    # The money given back is credited on the sale's invoice: nothing is owed either way.
    note = db.session.scalar(sa.select(Invoice).where(Invoice.kind == "credit_note"))
    assert (note.credit_for_id, note.total) == (sold.invoice.id, 1200)
    assert balances.invoice_balance(sold.invoice) == 0
