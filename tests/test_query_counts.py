"""The main pages send at most six SQL statements, the same number however many rows they show.

Each page is read twice by a user of the role that uses it: in a shop with 10 rows of each kind
(repairs, history entries, payments, invoices, estimate lines, charges, messages, appointments,
photos, labour, parts) and in one with 200. A page whose count grows with the rows runs a
query per row somewhere; a page over the cap loads in pieces what it could load together.
"""

from dataclasses import dataclass
from datetime import date, timedelta

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import (
    Appointment,
    EstimateLine,
    Invoice,
    InvoiceLine,
    LabourEntry,
    Message,
    Part,
    Payment,
    RepairCharge,
    RequestPart,
    RequestPhoto,
    ServiceRequest,
    StatusChange,
    User,
    utcnow,
)
from fixmyphone.services import slots

from .conftest import clean_database, client_for
from .factories import CustomerFactory, TechnicianFactory, open_every_day
from .querycount import count_queries

MAX_STATEMENTS = 6
MOVES = ["in_progress", "awaiting_parts"]


@pytest.fixture
def app_settings():
    # Online payments and deposits on: the repair page then works out what is due too.
    return {"STRIPE_SECRET_KEY": "sk_test_counts", "DEPOSIT_AMOUNT": 2000}


@dataclass
class Shop:
    customer: User
    technician: User
    repair: ServiceRequest  # the customer's repair with ``rows`` of everything
    today: str  # the shop's today (ISO date), for the calendar's feed


def _issued(number: str, repair: ServiceRequest, total: int, issued_at) -> Invoice:
    """An issued invoice of the repair for ``total``, on one fee line."""
    invoice = Invoice(
        number=number,
        service_request_id=repair.id,
        customer_id=repair.customer_id,
        status="issued",
        currency="usd",
        subtotal=total,
        total=total,
        issued_at=issued_at,
    )
    invoice.lines.append(
        InvoiceLine(
            kind="fee", description="Fee", unit_amount=total, net_amount=total, tax_amount=0
        )
    )
    return invoice


def _shop(rows: int) -> Shop:
    """A customer with ``rows`` repairs (each with history, an invoice, a payment, a message and
    a drop-off today), one of them, booked in and sent an estimate, with ``rows`` of every
    kind."""
    open_every_day()
    customer = CustomerFactory()
    tech = TechnicianFactory()
    now = utcnow()
    today = now.astimezone(slots.shop_tz()).replace(hour=9, minute=0, second=0, microsecond=0)
    repairs = [
        ServiceRequest(
            customer=customer,
            technician=tech,
            device_type="phone",
            brand=("Apple", "Samsung", "Google")[i % 3],
            model="Model X",
            issue_description="Cracked screen",
            status="in_progress",
            created_at=now - timedelta(days=i),
            estimated_completion=now - timedelta(hours=i + 1),
        )
        for i in range(rows)
    ]
    repair = repairs[0]
    repair.status = "scheduled"
    repair.quote_status = "pending"
    repair.estimate_version = 2
    repair.quote_sent_at = now
    db.session.add_all(repairs)
    parts = [Part(sku=f"CNT-{i:04d}", name=f"Part {i}", price=500, on_hand=0) for i in range(rows)]
    db.session.add_all(parts)
    db.session.flush()
    for i, r in enumerate(repairs):
        start = today + timedelta(minutes=30 * (i % 16))
        db.session.add_all(
            [
                StatusChange(service_request_id=r.id, to_status="pending", actor_id=customer.id),
                Payment(
                    service_request_id=r.id,
                    customer_id=customer.id,
                    method="cash",
                    status="succeeded",
                    amount=1000 + i,
                    currency="usd",
                    succeeded_at=now,
                ),
                Message(service_request_id=r.id, sender_id=tech.id, body=f"hello {i}"),
                _issued(f"INV-{rows}-R{i:05d}", r, 5000, now),
                Appointment(
                    service_request_id=r.id,
                    customer_id=customer.id,
                    technician_id=tech.id,
                    start=start,
                    end=start + timedelta(minutes=30),
                    seat=i // 16,
                ),
            ]
        )
    for i in range(rows):
        past = now - timedelta(days=30 + i)
        line = {"kind": "fee", "description": f"Fee {i}", "unit_amount": 100, "net_amount": 100}
        db.session.add_all(
            [
                _issued(f"INV-{rows}-{i:05d}", repair, 100, past),
                StatusChange(
                    service_request_id=repair.id,
                    from_status=MOVES[i % 2],
                    to_status=MOVES[(i + 1) % 2],
                    actor_id=tech.id,
                    note=f"step {i}",
                    created_at=now + timedelta(minutes=i),
                ),
                Payment(
                    service_request_id=repair.id,
                    customer_id=customer.id,
                    method="cash",
                    status="succeeded",
                    amount=200,
                    currency="usd",
                    succeeded_at=past,
                    recorded_by_id=tech.id,
                ),
                Message(
                    service_request_id=repair.id,
                    sender_id=(tech, customer)[i % 2].id,
                    body=f"message {i}",
                    is_internal=i % 4 == 3,
                ),
                EstimateLine(service_request_id=repair.id, created_by_id=tech.id, **line),
                RepairCharge(service_request_id=repair.id, estimate_version=1, **line),
                LabourEntry(
                    service_request_id=repair.id,
                    technician_id=tech.id,
                    description=f"Bench work {i}",
                    minutes=15,
                    amount=1000,
                ),
                RequestPart(service_request_id=repair.id, part_id=parts[i].id, unit_price=500),
                RequestPhoto(
                    service_request_id=repair.id,
                    stored_name=f"{rows}-{i}.jpg",
                    original_name=f"photo {i}.jpg",
                    content_type="image/jpeg",
                    size=1000,
                ),
                Appointment(
                    service_request_id=repair.id,
                    customer_id=customer.id,
                    start=past,
                    end=past + timedelta(minutes=30),
                    status="canceled",
                ),
            ]
        )
    db.session.commit()
    return Shop(customer, tech, repair, today.date().isoformat())


def _events(shop: Shop) -> str:
    day = date.fromisoformat(shop.today)
    start, end = day - timedelta(days=1), day + timedelta(days=2)
    return f"/admin/appointments/events?start={start}T00:00:00Z&end={end}T00:00:00Z"


# page -> (who reads it, its path in the shop)
PAGES = {
    "home": ("customer", lambda s: "/"),
    "account": ("customer", lambda s: "/account"),
    "history": ("customer", lambda s: "/account/history"),
    "repair": ("customer", lambda s: f"/account/repairs/{s.repair.id}"),
    "private link": ("customer", lambda s: f"/track/{s.repair.tracking_token}"),
    "private link, logged out": ("anonymous", lambda s: f"/track/{s.repair.tracking_token}"),
    "request list": ("admin", lambda s: "/admin/requests/"),
    "request list filtered": ("admin", lambda s: "/admin/requests/?search=Apple"),
    "request page": ("admin", lambda s: f"/admin/requests/view/{s.repair.id}"),
    "checkout": ("admin", lambda s: f"/admin/checkout/repair/{s.repair.id}"),
    "dashboard": ("admin", lambda s: "/admin/"),
    "technician's dashboard": ("technician", lambda s: "/admin/"),
    "calendar": ("admin", lambda s: "/admin/appointments/calendar"),
    "calendar events": ("admin", _events),
}


def _reader(shop: Shop, who: str):
    if who == "customer":
        return shop.customer
    if who == "technician":
        return shop.technician
    return who


def _statements(app, who: str, path_of) -> dict[int, list[str]]:
    """The statements a page sends, by rows of each kind (after a first, warming read)."""
    sent = {}
    for rows in (10, 200):
        shop = _shop(rows)
        client, _ = client_for(app, _reader(shop, who))
        path = path_of(shop)
        client.get(path)  # warm caches (templates, admin filters)
        # A message each way since that look: pages that mark messages read write while counted.
        for sender in (shop.technician, shop.customer):
            db.session.add(Message(service_request=shop.repair, sender=sender, body="New"))
        db.session.commit()
        with count_queries() as log:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        sent[rows] = list(log)
        db.session.remove()
        clean_database(app)
    return sent


@pytest.mark.parametrize("page", PAGES)
def test_pages_send_few_statements_whatever_the_rows(app, page):
    sent = _statements(app, *PAGES[page])
    counts = {rows: len(statements) for rows, statements in sent.items()}
    shown = "\n\n".join(sent[200])
    assert counts[10] == counts[200], f"{counts}\n\n{shown}"
    assert counts[200] <= MAX_STATEMENTS, f"{counts}\n\n{shown}"


def test_reports_do_not_grow_with_rows(app):
    # Reports aggregate in SQL: one statement per figure, whatever the period holds.
    sent = _statements(app, "admin", lambda s: "/admin/reports/")
    assert len(sent[10]) == len(sent[200]), "\n\n".join(sent[200])


def test_api_status_does_not_grow_with_history(app):
    counts = {}
    for rows in (10, 200):
        shop = _shop(rows)
        client = app.test_client()
        token = client.post(
            "/api/auth/login", json={"email": shop.customer.email, "password": "correct-horse-1"}
        ).json["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/service-request/{shop.repair.id}/status"
        client.get(path, headers=headers)
        with count_queries() as log:
            response = client.get(path, headers=headers)
        assert response.status_code == 200
        assert len(response.json["history"]) >= rows
        counts[rows] = log.count
        statements = list(log)
        list_response = client.get("/api/service-request", headers=headers)
        assert list_response.status_code == 200
        db.session.remove()
        clean_database(app)
    assert counts[10] == counts[200], counts
    # Apps poll this: the token check (user + revoked family) and the status with its history.
    assert counts[10] == 2, (counts, statements)
