"""Service requests: create, list, read, status (GET/POST) and messages."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Message, Notification, ServiceRequest, StatusChange

from .. import factories
from .conftest import assert_error

NEW_REQUEST = {
    "device_type": "phone",
    "brand": "Apple",
    "model": "iPhone 13",
    "issue_description": "Screen cracked after a fall",
    "imei": "490154203237518",
    "preferred_time": "2026-12-01T10:30:00+01:00",
}
CREATED_KEYS = {
    "id",
    "reference",
    "status",
    "status_label",
    "device_type",
    "brand",
    "model",
    "imei",
    "issue_description",
    "preferred_time",
    "estimated_completion",
    "created_at",
}
STATUS_KEYS = {
    "id",
    "reference",
    "status",
    "status_label",
    "estimated_completion",
    "technician",
    "history",
}


def test_customer_opens_a_request(client, customer, as_customer):
    response = client.post("/api/service-request", json=NEW_REQUEST, headers=as_customer)
    assert response.status_code == 201
    body = response.get_json()
    assert CREATED_KEYS <= set(body)
    assert body["status"] == "pending" and body["status_label"] == "Pending"
    assert re.fullmatch(r"FMP-[2-9A-HJ-NP-Z]{6}", body["reference"])
    assert body["preferred_time"] == "2026-12-01T09:30:00+00:00"
    assert datetime.fromisoformat(body["created_at"]).utcoffset() is not None
    request = db.session.get(ServiceRequest, body["id"])
    assert request.customer_id == customer.id and request.imei == "490154203237518"
    assert [h.to_status for h in request.history] == ["pending"]


def test_imei_and_preferred_time_are_optional(client, as_customer):
    body = {k: v for k, v in NEW_REQUEST.items() if k not in ("imei", "preferred_time")}
    response = client.post("/api/service-request", json=body | {"imei": None}, headers=as_customer)
    assert response.status_code == 201
    assert response.get_json()["imei"] is None and response.get_json()["preferred_time"] is None


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"imei": "490154203237519"}, "imei"),  # bad check digit
        ({"imei": "49015420323751"}, "imei"),  # 14 digits
        ({"imei": "4901542032375180"}, "imei"),
        ({"imei": "49015420323751X"}, "imei"),
        ({"imei": 490154203237518}, "imei"),
        ({"device_type": "toaster"}, "device_type"),
        ({"brand": ""}, "brand"),
        ({"brand": "x" * 61}, "brand"),
        ({"model": None}, "model"),
        ({"issue_description": "   "}, "issue_description"),
        ({"issue_description": "x" * 5001}, "issue_description"),
        ({"preferred_time": "tomorrow"}, "preferred_time"),
        ({"preferred_time": "2026-12-01T10:30:00"}, "preferred_time"),  # no offset
        ({"preferred_time": 1700000000}, "preferred_time"),
        ({"brand": "Apple\x00"}, "brand"),
    ],
)
def test_create_validation_is_422_with_fields(client, as_customer, change, field):
    response = client.post("/api/service-request", json=NEW_REQUEST | change, headers=as_customer)
    error = assert_error(response, 422, "validation_error")
    assert field in error["fields"]
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceRequest)) == 0


def test_staff_do_not_open_requests_through_the_customer_endpoint(client, as_admin):
    assert_error(
        client.post("/api/service-request", json=NEW_REQUEST, headers=as_admin), 403, "forbidden"
    )


def test_status_shows_public_history_oldest_first(client, repair, technician, as_customer):
    from fixmyphone.workflow import move_status

    move_status(repair, "in_progress", technician, "On the bench")
    move_status(repair, "awaiting_parts", technician, "Ordered a screen", public=False)
    db.session.commit()
    response = client.get(f"/api/service-request/{repair.id}/status", headers=as_customer)
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == STATUS_KEYS
    assert body["status"] == "awaiting_parts" and body["status_label"] == "Awaiting Parts"
    assert body["technician"] == {"name": technician.first_name}
    assert [h["status"] for h in body["history"]] == ["pending", "in_progress"]
    assert body["history"][1] == {
        "status": "in_progress",
        "status_label": "In Progress",
        "note": "On the bench",
        "at": body["history"][1]["at"],
    }
    assert datetime.fromisoformat(body["history"][0]["at"]).utcoffset() is not None


def test_unassigned_request_has_no_technician(client, customer, as_customer):
    request = factories.ServiceRequestFactory(customer=customer)
    db.session.commit()
    body = client.get(f"/api/service-request/{request.id}/status", headers=as_customer).get_json()
    assert body["technician"] is None and body["estimated_completion"] is None


def test_assigned_technician_moves_the_request(client, repair, as_technician):
    response = client.post(
        f"/api/service-request/{repair.id}/status",
        json={
            "status": "in_progress",
            "note": "Started",
            "estimated_completion": "2026-12-03T17:00:00Z",
        },
        headers=as_technician,
    )
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == STATUS_KEYS
    assert body["status"] == "in_progress"
    assert body["estimated_completion"] == "2026-12-03T17:00:00+00:00"
    assert body["history"][-1]["note"] == "Started"
    change = db.session.scalars(sa.select(StatusChange).order_by(StatusChange.id.desc())).first()
    assert change.to_status == "in_progress" and change.actor_id == repair.technician_id
    # The customer is told (outbox row written in the same transaction).
    assert db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Notification)
        .where(Notification.event == "status_changed")
    )


@pytest.mark.parametrize("who", ["as_admin", "as_superadmin"])
def test_admins_move_any_request(client, repair, who, request):
    headers = request.getfixturevalue(who)
    response = client.post(
        f"/api/service-request/{repair.id}/status", json={"status": "on_hold"}, headers=headers
    )
    assert response.status_code == 200


def test_customer_may_not_post_a_status(client, repair, as_customer):
    assert_error(
        client.post(
            f"/api/service-request/{repair.id}/status",
            json={"status": "canceled"},
            headers=as_customer,
        ),
        403,
        "forbidden",
    )
    db.session.refresh(repair)
    assert repair.status == "pending"


def test_other_technician_may_not_move_it(client, repair, as_other_technician):
    # A repair not assigned to them is outside a technician's scope: 404, as if missing.
    assert_error(
        client.post(
            f"/api/service-request/{repair.id}/status",
            json={"status": "in_progress"},
            headers=as_other_technician,
        ),
        404,
        "not_found",
    )


def test_illegal_move_is_409_with_the_allowed_statuses(client, repair, as_admin):
    error = assert_error(
        client.post(
            f"/api/service-request/{repair.id}/status",
            json={"status": "completed"},
            headers=as_admin,
        ),
        409,
        "conflict",
    )
    for allowed in ("scheduled", "in_progress", "on_hold", "canceled"):
        assert allowed in error["message"]
    db.session.refresh(repair)
    assert repair.status == "pending" and len(repair.history) == 1


@pytest.mark.parametrize(
    "body", [{}, {"status": "fixed"}, {"status": 3}, {"status": "on_hold", "note": "x" * 2001}]
)
def test_status_body_validation(client, repair, as_admin, body):
    assert_error(
        client.post(f"/api/service-request/{repair.id}/status", json=body, headers=as_admin),
        422,
        "validation_error",
    )


def test_list_shows_a_customer_only_their_requests(client, customer, customer_b, as_customer):
    mine = [factories.ServiceRequestFactory(customer=customer) for _ in range(3)]
    factories.ServiceRequestFactory(customer=customer_b)
    db.session.commit()
    body = client.get("/api/service-request", headers=as_customer).get_json()
    assert body["total"] == 3 and body["page"] == 1 and body["per_page"] == 20
    assert {r["id"] for r in body["items"]} == {r.id for r in mine}


def test_staff_list_every_request_paginated_and_filtered(client, customer, customer_b, as_admin):
    for owner in (customer, customer_b, customer):
        factories.ServiceRequestFactory(customer=owner)
    factories.ServiceRequestFactory(customer=customer_b, status="in_progress")
    db.session.commit()
    page = client.get("/api/service-request?per_page=3&page=2", headers=as_admin).get_json()
    assert page["total"] == 4 and len(page["items"]) == 1
    only = client.get("/api/service-request?status=in_progress", headers=as_admin).get_json()
    assert [r["status"] for r in only["items"]] == ["in_progress"]


@pytest.mark.parametrize(
    "query", ["page=0", "per_page=101", "per_page=abc", "status=broken", "page=1.5"]
)
def test_list_query_validation(client, as_admin, query):
    error = assert_error(
        client.get(f"/api/service-request?{query}", headers=as_admin), 422, "validation_error"
    )
    assert set(error["fields"]) <= {"page", "per_page", "status"}


def test_detail_includes_technician_and_appointment(client, repair, as_customer):
    body = client.get(f"/api/service-request/{repair.id}", headers=as_customer).get_json()
    assert body["id"] == repair.id
    assert body["technician"] == {"name": repair.technician.first_name}
    assert body["appointment"] is None
    assert body["customer"]["id"] == repair.customer_id


def test_messages_thread(client, repair, as_customer, as_technician):
    response = client.post(
        f"/api/service-request/{repair.id}/messages",
        json={"body": "When will it be ready?"},
        headers=as_customer,
    )
    assert response.status_code == 201
    assert response.get_json()["from_staff"] is False
    note = client.post(
        f"/api/service-request/{repair.id}/messages",
        json={"body": "Needs a new screen", "internal": True},
        headers=as_technician,
    )
    assert note.status_code == 201 and note.get_json()["internal"] is True
    staff_view = client.get(f"/api/service-request/{repair.id}/messages", headers=as_technician)
    assert [m["body"] for m in staff_view.get_json()["items"]] == [
        "When will it be ready?",
        "Needs a new screen",
    ]
    customer_view = client.get(f"/api/service-request/{repair.id}/messages", headers=as_customer)
    assert [m["body"] for m in customer_view.get_json()["items"]] == ["When will it be ready?"]
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Message)
            .where(Message.read_by_staff_at.is_(None))
        )
        == 0
    )


def test_customer_cannot_write_internal_notes(client, repair, as_customer):
    assert_error(
        client.post(
            f"/api/service-request/{repair.id}/messages",
            json={"body": "psst", "internal": True},
            headers=as_customer,
        ),
        403,
        "forbidden",
    )


@pytest.mark.parametrize("body", [{}, {"body": ""}, {"body": "x" * 5001}, {"body": ["hi"]}])
def test_message_validation(client, repair, as_customer, body):
    assert_error(
        client.post(f"/api/service-request/{repair.id}/messages", json=body, headers=as_customer),
        422,
        "validation_error",
    )
