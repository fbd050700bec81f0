"""Report figures checked against a hand-computed fixture, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from fixmyphone.extensions import db
from fixmyphone.models import Payment, Refund, RequestPart
from fixmyphone.services import reports
from tests import factories
from tests.conftest import clean_database, client_for, make_app

PERIOD = reports.Period(datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def at(day: int, hour: int = 12, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def build_fixture() -> dict:
    """The shop's March 2026, small enough to compute by hand."""
    tech_a = factories.TechnicianFactory(full_name="Alice Tech")
    tech_b = factories.TechnicianFactory(full_name="Bob Tech")

    def request(**kw):
        return factories.ServiceRequestFactory(**kw)

    # Completed repairs: three by Alice, one by Bob (Samsung S21).
    done = [
        request(
            technician=tech,
            status="completed",
            brand="Samsung",
            model="S21",
            created_at=at(1),
            completed_at=at(5 if tech is tech_a else 6),
        )
        for tech in (tech_a, tech_a, tech_a, tech_b)
    ]
    # r1 reworked 10 days later (inside the period, within 30 days);
    # Bob's repair reworked 45 days later (outside the period and the 30-day window).
    request(status="pending", brand="Samsung", model="S21", created_at=at(15), warranty_of=done[0])
    request(
        status="pending",
        brand="Samsung",
        model="S21",
        created_at=at(20, month=4),
        warranty_of=done[3],
    )
    # Turnaround: ready in March after 10, 20, 30, 40 and 100 hours.
    for hours, (brand, model) in zip(
        (10, 20, 30, 40, 100),
        [("Apple", "iPhone 13")] * 4 + [("Google", "Pixel 7")],
        strict=True,
    ):
        request(
            status="ready_for_pickup",
            brand=brand,
            model=model,
            created_at=at(1),
            checked_in_at=at(2),
            ready_at=at(2) + timedelta(hours=hours),
        )
    # Outside the period: ready in February.
    request(
        status="ready_for_pickup",
        created_at=at(1, month=2),
        checked_in_at=at(2, month=2),
        ready_at=at(3, month=2),
    )

    customer_id = done[0].customer_id

    def payment(amount, method, status, when):
        row = Payment(
            service_request_id=done[0].id,
            customer_id=customer_id,
            method=method,
            amount=amount,
            currency="usd",
            status=status,
            succeeded_at=when,
            created_at=when or at(1),
        )
        db.session.add(row)
        return row

    p1 = payment(10000, "cash", "succeeded", at(2, 10))
    payment(5000, "stripe", "succeeded", at(2, 15))
    payment(2500, "cash", "succeeded", at(10))
    payment(7000, "cash", "pending", None)
    payment(9999, "cash", "succeeded", at(5, month=4))
    db.session.flush()
    db.session.add(
        Refund(payment_id=p1.id, amount=1000, currency="usd", status="succeeded", created_at=at(10))
    )

    screen = factories.PartFactory(sku="SCR", name="Screen", on_hand=10)
    battery = factories.PartFactory(sku="BAT", name="Battery", on_hand=10)
    for part, qty, status in (
        (screen, 2, "consumed"),
        (screen, 1, "consumed"),
        (battery, 1, "consumed"),
        (battery, 5, "reserved"),
        (screen, 4, "released"),
    ):
        db.session.add(
            RequestPart(
                service_request_id=done[1].id,
                part_id=part.id,
                quantity=qty,
                status=status,
                created_at=at(4),
            )
        )
    db.session.commit()
    return {"alice": tech_a.id, "bob": tech_b.id}


def check_figures(ids: dict) -> None:
    assert reports.revenue(PERIOD, "day") == [
        {"period": "2026-03-02", "payments": 2, "received": 15000, "refunded": 0, "net": 15000},
        {"period": "2026-03-10", "payments": 1, "received": 2500, "refunded": 1000, "net": 1500},
    ]
    assert reports.revenue(PERIOD, "week") == [
        {"period": "2026-03-02", "payments": 2, "received": 15000, "refunded": 0, "net": 15000},
        {"period": "2026-03-09", "payments": 1, "received": 2500, "refunded": 1000, "net": 1500},
    ]
    assert reports.revenue(PERIOD, "month") == [
        {"period": "2026-03", "payments": 3, "received": 17500, "refunded": 1000, "net": 16500},
    ]
    assert reports.revenue_by_method(PERIOD) == [
        {"method": "cash", "payments": 2, "received": 12500},
        {"method": "stripe", "payments": 1, "received": 5000},
    ]
    assert reports.requests_by_status(PERIOD) == [
        {"status": "ready_for_pickup", "count": 5},
        {"status": "completed", "count": 4},
        {"status": "pending", "count": 1},
    ]
    assert reports.turnaround(PERIOD) == {"count": 5, "mean_hours": 40.0, "p90_hours": 100.0}
    assert reports.repairs_per_technician(PERIOD) == [
        {"technician_id": ids["alice"], "technician": "Alice Tech", "completed": 3, "reworks": 1},
        {"technician_id": ids["bob"], "technician": "Bob Tech", "completed": 1, "reworks": 0},
    ]
    assert reports.top_device_models(PERIOD) == [
        {"brand": "Samsung", "model": "S21", "count": 5},
        {"brand": "Apple", "model": "iPhone 13", "count": 4},
        {"brand": "Google", "model": "Pixel 7", "count": 1},
    ]
    assert reports.top_parts(PERIOD) == [
        {"sku": "SCR", "name": "Screen", "quantity": 3},
        {"sku": "BAT", "name": "Battery", "quantity": 1},
    ]
    assert reports.first_time_fix_rate(PERIOD) == {
        "completed": 4,
        "fixed_first_time": 3,
        "rate": 0.75,
    }


def test_report_figures_on_sqlite(app):
    check_figures(build_fixture())


def test_empty_period_has_no_figures(app):
    empty = reports.Period(datetime(2020, 1, 1, tzinfo=UTC), datetime(2020, 2, 1, tzinfo=UTC))
    assert reports.turnaround(empty) == {"count": 0, "mean_hours": None, "p90_hours": None}
    assert reports.first_time_fix_rate(empty)["rate"] is None
    assert reports.revenue(empty) == []


@pytest.mark.postgres
def test_report_figures_on_postgres(require_postgres, tmp_path):
    app = make_app(require_postgres, tmp_path)
    try:
        with app.app_context():
            check_figures(build_fixture())
            db.session.remove()
    finally:
        clean_database(app)


def test_reports_page_and_csv(app):
    build_fixture()
    client, _ = client_for(app, "admin")
    html = client.get("/admin/reports/?start=2026-03-01&end=2026-03-31").get_data(as_text=True)
    assert "Samsung" in html and 'data-chart="' in html
    assert "<script>" not in html.replace("<script src=", "")
    csv_text = client.get(
        "/admin/reports/revenue.csv?start=2026-03-01&end=2026-03-31&grouping=month"
    ).get_data(as_text=True)
    assert csv_text.splitlines() == [
        "period,payments,received,refunded,net,currency",
        "2026-03,3,175.00,10.00,165.00,USD",
    ]
    assert client.get("/admin/reports/nope.csv").status_code == 404
