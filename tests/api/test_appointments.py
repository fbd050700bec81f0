"""Slots, booking, rescheduling and cancelling appointments."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Appointment

from .. import factories
from .conftest import assert_error


def day_after_tomorrow():
    return (datetime.now(UTC) + timedelta(days=2)).date()


def at(day, hour: int, minute: int = 0) -> str:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC).isoformat()


@pytest.fixture
def open_shop(app):
    factories.open_every_day()
    db.session.commit()


def book(client, headers, request_id, start):
    return client.post(
        "/api/appointment", json={"service_request_id": request_id, "start": start}, headers=headers
    )


def test_slots_need_no_login_and_show_availability(client, open_shop, customer, as_customer):
    day = day_after_tomorrow()
    repair = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    assert book(client, as_customer, repair.id, at(day, 9)).status_code == 201
    response = client.get(f"/api/appointment/slots?date={day.isoformat()}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["date"] == day.isoformat()
    assert len(body["slots"]) == 16  # 09:00-17:00 in 30 minute slots
    first = body["slots"][0]
    assert set(first) == {"start", "end", "available"}
    assert first == {"start": at(day, 9), "end": at(day, 9, 30), "available": False}
    assert body["slots"][1]["available"] is True


def test_closed_day_has_no_slots(client):
    body = client.get("/api/appointment/slots?date=2030-01-07").get_json()
    assert body == {"date": "2030-01-07", "slots": []}


@pytest.mark.parametrize("query", ["", "date=", "date=tomorrow", "date=2026-13-01", "date=1"])
def test_slots_need_a_valid_date(client, query):
    error = assert_error(client.get(f"/api/appointment/slots?{query}"), 422, "validation_error")
    assert "date" in error["fields"]


def test_booking_answers_201_and_schedules_the_request(client, open_shop, customer, as_customer):
    repair = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    start = at(day_after_tomorrow(), 10)
    response = book(client, as_customer, repair.id, start)
    assert response.status_code == 201
    body = response.get_json()
    assert {"id", "service_request_id", "start", "end", "status"} <= set(body)
    assert body["status"] == "scheduled" and body["start"] == start
    assert body["service_request_id"] == repair.id
    db.session.refresh(repair)
    assert repair.status == "scheduled"
    detail = client.get(f"/api/service-request/{repair.id}", headers=as_customer).get_json()
    assert detail["appointment"]["id"] == body["id"]


def test_start_in_another_offset_is_the_same_instant(client, open_shop, customer, as_customer):
    repair = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    day = day_after_tomorrow()
    response = book(client, as_customer, repair.id, f"{day.isoformat()}T12:00:00+02:00")
    assert response.status_code == 201
    assert response.get_json()["start"] == at(day, 10)


def test_full_slot_is_409(client, open_shop, customer, customer_b, as_customer, as_customer_b):
    first = factories.ServiceRequestFactory(customer=customer)
    second = factories.ServiceRequestFactory(customer=customer_b)
    db.session.commit()
    start = at(day_after_tomorrow(), 11)
    assert book(client, as_customer, first.id, start).status_code == 201
    assert_error(book(client, as_customer_b, second.id, start), 409, "conflict")
    db.session.refresh(second)
    assert second.status == "pending"


@pytest.mark.parametrize(
    "start",
    [
        at(datetime.now(UTC).date() - timedelta(days=1), 10),  # past
        at(day_after_tomorrow(), 7),  # before opening
        at(day_after_tomorrow(), 10, 10),  # not a slot start
        "0001-01-01T00:00:00+00:00",
    ],
)
def test_past_or_out_of_hours_is_409(client, open_shop, customer, as_customer, start):
    repair = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    assert_error(book(client, as_customer, repair.id, start), 409, "conflict")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start": "2030-01-01T10:00:00Z"}, "service_request_id"),
        ({"service_request_id": "1", "start": "2030-01-01T10:00:00Z"}, "service_request_id"),
        ({"service_request_id": 0, "start": "2030-01-01T10:00:00Z"}, "service_request_id"),
        ({"service_request_id": 1}, "start"),
        ({"service_request_id": 1, "start": "2030-01-01 10:00"}, "start"),
        ({"service_request_id": 1, "start": "2030-01-01T10:00:00"}, "start"),
        ({"service_request_id": 1, "start": "0001-01-01T00:00:00+01:00"}, "start"),
    ],
)
def test_booking_validation(client, as_customer, body, field):
    error = assert_error(
        client.post("/api/appointment", json=body, headers=as_customer), 422, "validation_error"
    )
    assert field in error["fields"]


def test_booking_someone_elses_request_is_404(client, open_shop, customer, as_customer_b):
    repair = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    assert_error(
        book(client, as_customer_b, repair.id, at(day_after_tomorrow(), 10)), 404, "not_found"
    )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 0


def test_reschedule_and_cancel(client, open_shop, customer, as_customer):
    repair = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    day = day_after_tomorrow()
    appointment_id = book(client, as_customer, repair.id, at(day, 10)).get_json()["id"]
    moved = client.put(
        f"/api/appointment/{appointment_id}", json={"start": at(day, 14)}, headers=as_customer
    )
    assert moved.status_code == 200
    assert moved.get_json()["start"] == at(day, 14)
    # The old slot is free again.
    slots = client.get(f"/api/appointment/slots?date={day.isoformat()}").get_json()["slots"]
    assert {s["start"]: s["available"] for s in slots}[at(day, 10)] is True

    canceled = client.delete(
        f"/api/appointment/{appointment_id}", json={"reason": "Away"}, headers=as_customer
    )
    assert canceled.status_code == 200
    assert canceled.get_json()["status"] == "canceled"
    assert canceled.get_json()["cancel_reason"] == "Away"
    db.session.refresh(repair)
    assert repair.status == "on_hold"
    # Cancelling twice is a state conflict.
    assert_error(
        client.delete(f"/api/appointment/{appointment_id}", headers=as_customer), 409, "conflict"
    )


def test_cancel_without_a_body(client, open_shop, customer, as_customer):
    repair = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    appointment_id = book(client, as_customer, repair.id, at(day_after_tomorrow(), 15)).get_json()[
        "id"
    ]
    response = client.delete(f"/api/appointment/{appointment_id}", headers=as_customer)
    assert response.status_code == 200 and response.get_json()["cancel_reason"] is None


def test_customer_cannot_change_within_the_cutoff(app, client, open_shop, customer, as_customer):
    repair = factories.ServiceRequestFactory(customer=customer, status="scheduled")
    start = (datetime.now(UTC) + timedelta(minutes=30)).replace(second=0, microsecond=0)
    appointment = Appointment(
        service_request=repair,
        customer_id=customer.id,
        start=start,
        end=start + timedelta(minutes=30),
        seat=0,
    )
    db.session.add(appointment)
    db.session.commit()
    assert_error(
        client.delete(f"/api/appointment/{appointment.id}", headers=as_customer), 403, "forbidden"
    )


def test_other_customers_appointment_is_404(
    client, open_shop, customer, as_customer, as_customer_b
):
    repair = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    day = day_after_tomorrow()
    appointment_id = book(client, as_customer, repair.id, at(day, 10)).get_json()["id"]
    assert_error(
        client.put(
            f"/api/appointment/{appointment_id}", json={"start": at(day, 11)}, headers=as_customer_b
        ),
        404,
        "not_found",
    )
    assert_error(
        client.delete(f"/api/appointment/{appointment_id}", headers=as_customer_b), 404, "not_found"
    )
    assert db.session.get(Appointment, appointment_id).status == "scheduled"
