"""The main pages send a fixed number of queries, however many rows there are."""

from datetime import timedelta

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import Message, Payment, StatusChange, utcnow

from .conftest import client_for
from .factories import CustomerFactory, ServiceRequestFactory, TechnicianFactory, UserFactory
from .querycount import count_queries

MOVES = ["in_progress", "awaiting_parts", "in_progress"]


def _shop(rows: int):
    """A customer with ``rows`` repairs (each with history, a payment and a message) and one
    repair whose timeline has ``rows`` entries."""
    customer = CustomerFactory()
    tech = TechnicianFactory()
    now = utcnow()
    requests = []
    for i in range(rows):
        r = ServiceRequestFactory(
            customer=customer,
            technician=tech,
            status="in_progress",
            brand=("Apple", "Samsung", "Google")[i % 3],
        )
        requests.append(r)
    db.session.flush()
    for i, r in enumerate(requests):
        db.session.add(
            StatusChange(
                service_request_id=r.id,
                from_status="pending",
                to_status="in_progress",
                actor_id=tech.id,
                created_at=now - timedelta(hours=i),
            )
        )
        db.session.add(
            Payment(
                service_request_id=r.id,
                customer_id=customer.id,
                method="cash",
                status="succeeded",
                amount=1000 + i,
                currency="usd",
                succeeded_at=now,
            )
        )
        db.session.add(Message(service_request_id=r.id, sender_id=customer.id, body=f"hello {i}"))
    long_one = requests[0]
    for i in range(rows):
        db.session.add(
            StatusChange(
                service_request_id=long_one.id,
                from_status=MOVES[i % 2],
                to_status=MOVES[(i + 1) % 2],
                actor_id=tech.id,
                note=f"step {i}",
                created_at=now + timedelta(minutes=i),
            )
        )
    db.session.commit()
    return customer, long_one


def _counts(app, path_for, who):
    counts = {}
    for rows in (10, 200):
        customer, long_one = _shop(rows)
        user = customer if who == "customer" else UserFactory(role="admin")
        db.session.commit()
        client, _ = client_for(app, user)
        path = path_for(long_one)
        client.get(path)  # warm caches (templates, admin filters)
        with count_queries() as log:
            response = client.get(path)
        assert response.status_code == 200, (path, response.status_code)
        counts[rows] = log.count
        from .conftest import clean_database

        clean_database(app)
    return counts


CUSTOMER_PAGES = {
    "account": lambda r: "/account",
    "history": lambda r: "/account/history",
    "tracking": lambda r: f"/account/repairs/{r.id}",
    "private link": lambda r: f"/track/{r.tracking_token}",
}
ADMIN_PAGES = {
    "request list": lambda r: "/admin/requests/",
    "request list filtered": lambda r: "/admin/requests/?search=Apple",
    "dashboard": lambda r: "/admin/",
    "reports": lambda r: "/admin/reports/",
    "request page": lambda r: f"/admin/requests/view/{r.id}",
}


@pytest.mark.parametrize("screen", CUSTOMER_PAGES)
def test_customer_pages_do_not_grow_with_rows(app, screen):
    counts = _counts(app, CUSTOMER_PAGES[screen], "customer")
    assert counts[10] == counts[200], counts


@pytest.mark.parametrize("screen", ADMIN_PAGES)
def test_admin_pages_do_not_grow_with_rows(app, screen):
    counts = _counts(app, ADMIN_PAGES[screen], "admin")
    assert counts[10] == counts[200], counts


def test_api_status_does_not_grow_with_history(app):
    counts = {}
    for rows in (10, 200):
        customer, long_one = _shop(rows)
        client = app.test_client()
        token = client.post(
            "/api/auth/login", json={"email": customer.email, "password": "correct-horse-1"}
        ).json["access_token"]
        headers = {"Authorization": f"Bearer {token}"}
        path = f"/api/service-request/{long_one.id}/status"
        client.get(path, headers=headers)
        with count_queries() as log:
            response = client.get(path, headers=headers)
        assert response.status_code == 200
        assert len(response.json["history"]) >= rows
        counts[rows] = log.count
        statements = list(log)
        list_response = client.get("/api/service-request", headers=headers)
        assert list_response.status_code == 200
        from .conftest import clean_database

        clean_database(app)
    assert counts[10] == counts[200], counts
    # Apps poll this: the token check (user + revoked family) and the status with its history.
    assert counts[10] == 2, (counts, statements)
