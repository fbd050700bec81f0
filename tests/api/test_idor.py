"""Who may touch whose objects: customer A (owner), customer B, the assigned technician,
another technician, an admin. Someone else's objects are 404 (never 403: no leak that they
exist); a role that may see but not do answers 403."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from fixmyphone.extensions import db
from fixmyphone.services import booking

from .. import factories
from ..conftest import count_rows
from .conftest import bearer

ROLES = ("owner", "other_customer", "assigned_technician", "other_technician", "admin")


@pytest.fixture
def world(app, customer, customer_b, technician, other_technician, admin_user):
    """A request of ``customer`` assigned to ``technician``, with an appointment."""
    factories.open_every_day()
    repair = factories.ServiceRequestFactory(customer=customer, technician=technician)
    db.session.flush()
    day = (datetime.now(UTC) + timedelta(days=3)).date()
    appointment = booking.book(repair, datetime.combine(day, time(10), tzinfo=UTC), customer)
    db.session.commit()
    users = {
        "owner": customer,
        "other_customer": customer_b,
        "assigned_technician": technician,
        "other_technician": other_technician,
        "admin": admin_user,
    }
    return {
        "repair": repair,
        "appointment": appointment,
        "day": day,
        "customer": customer,
        "headers": {role: bearer(user) for role, user in users.items()},
    }


def _call(client, world, case, role):
    repair, appointment, day = world["repair"], world["appointment"], world["day"]
    headers = world["headers"][role]
    slot = lambda h: datetime.combine(day, time(h), tzinfo=UTC).isoformat()  # noqa: E731
    calls = {
        "get request": lambda: client.get(f"/api/service-request/{repair.id}", headers=headers),
        "get status": lambda: client.get(
            f"/api/service-request/{repair.id}/status", headers=headers
        ),
        "post status": lambda: client.post(
            f"/api/service-request/{repair.id}/status",
            json={"status": "in_progress"},
            headers=headers,
        ),
        "get messages": lambda: client.get(
            f"/api/service-request/{repair.id}/messages", headers=headers
        ),
        "post message": lambda: client.post(
            f"/api/service-request/{repair.id}/messages", json={"body": "hi"}, headers=headers
        ),
        "get profile": lambda: client.get(
            f"/api/customer/{world['customer'].id}/profile", headers=headers
        ),
        "put profile": lambda: client.put(
            f"/api/customer/{world['customer'].id}/profile",
            json={"city": "Bath"},
            headers=headers,
        ),
        "reschedule": lambda: client.put(
            f"/api/appointment/{appointment.id}", json={"start": slot(13)}, headers=headers
        ),
        "cancel": lambda: client.delete(f"/api/appointment/{appointment.id}", headers=headers),
        "book": lambda: client.post(
            "/api/appointment",
            json={"service_request_id": repair.id, "start": slot(14)},
            headers=headers,
        ),
    }
    return calls[case]()


# case -> expected status per role (owner, other customer, assigned tech, other tech, admin).
# A technician sees and acts on the repairs assigned to them only (services/repairs.scope):
# another technician's repair, and its customer, are 404 as for another customer.
MATRIX = {
    "get request": (200, 404, 200, 404, 200),
    "get status": (200, 404, 200, 404, 200),
    "post status": (403, 404, 200, 404, 200),
    "get messages": (200, 404, 200, 404, 200),
    "post message": (201, 404, 201, 404, 201),
    "get profile": (200, 404, 200, 404, 200),
    "put profile": (200, 404, 200, 404, 200),
    "reschedule": (200, 404, 200, 404, 200),
    "cancel": (200, 404, 200, 404, 200),
    # Customers book (the request already has one: the state conflict); staff get 403.
    "book": (409, 404, 403, 403, 403),
}


@pytest.mark.parametrize("case", sorted(MATRIX))
@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(client, world, case, role):
    expected = MATRIX[case][ROLES.index(role)]
    response = _call(client, world, case, role)
    assert response.status_code == expected, (case, role, response.get_json())
    if expected >= 400:
        assert set(response.get_json()) == {"error"}


def test_other_customers_objects_are_indistinguishable_from_missing(client, world):
    headers = world["headers"]["other_customer"]
    theirs = client.get(f"/api/service-request/{world['repair'].id}", headers=headers)
    missing = client.get("/api/service-request/999999", headers=headers)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_json() == missing.get_json()


def test_lists_are_scoped(client, world):
    own = client.get("/api/service-request", headers=world["headers"]["owner"]).get_json()
    other = client.get(
        "/api/service-request", headers=world["headers"]["other_customer"]
    ).get_json()
    assert own["total"] == 1 and other["total"] == 0


def test_technician_lists_only_assigned_repairs(client, world, other_technician, admin_user):
    theirs = factories.ServiceRequestFactory(technician=other_technician)
    factories.ServiceRequestFactory()  # nobody's yet
    db.session.commit()
    listing = client.get("/api/service-request", headers=world["headers"]["other_technician"])
    assert [item["id"] for item in listing.get_json()["items"]] == [theirs.id]
    assigned = client.get(
        "/api/service-request", headers=world["headers"]["assigned_technician"]
    ).get_json()
    assert [item["id"] for item in assigned["items"]] == [world["repair"].id]
    everything = client.get("/api/service-request", headers=world["headers"]["admin"]).get_json()
    assert everything["total"] == 3


def test_message_to_an_unassigned_repair_is_not_stored(client, world):
    from fixmyphone.models import Message

    before = count_rows(Message)
    response = client.post(
        f"/api/service-request/{world['repair'].id}/messages",
        json={"body": "psst", "internal": True},
        headers=world["headers"]["other_technician"],
    )
    assert response.status_code == 404
    assert count_rows(Message) == before


@pytest.mark.parametrize("role", ["admin", "technician"])
def test_staff_cannot_reach_a_super_admins_profile(client, app, role, superadmin):
    actor = (
        factories.TechnicianFactory()
        if role == "technician"
        else factories.UserFactory(role="admin")
    )
    name = superadmin.full_name
    headers = bearer(actor)
    for response in (
        client.get(f"/api/customer/{superadmin.id}/profile", headers=headers),
        client.put(
            f"/api/customer/{superadmin.id}/profile", json={"full_name": "Taken"}, headers=headers
        ),
    ):
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    db.session.refresh(superadmin)
    assert superadmin.full_name == name
