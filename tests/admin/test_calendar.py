"""The appointment calendar's endpoints: events in the shop's time zone, moves, bookings and
cancellations through the booking service (capacity, seats, drop-off rules), roles, CSRF."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta
from html import unescape

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Appointment, OpeningHours, Shift, ShopSettings, TimeOff, utcnow
from fixmyphone.services import booking, slots
from fixmyphone.workflow import move_status
from tests import factories
from tests.conftest import client_for

CAL = "/admin/appointments/calendar"
DAY = (utcnow() + timedelta(days=3)).date()


def at(hour: int, minute: int = 0, day=DAY) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=UTC)


@pytest.fixture
def shop(app):
    """Open 09:00-17:00 every day, 30-minute slots, one place per slot (no shifts)."""
    factories.open_every_day()
    db.session.add(ShopSettings(slot_minutes=30, default_slot_capacity=1))
    db.session.commit()


@pytest.fixture
def admin(app, shop):
    client, user = client_for(app, "admin")
    client.csrf = _page_token(client)
    return client


def _page_token(client) -> str:
    html = client.get(CAL).get_data(as_text=True)
    return re.search(r'data-csrf="([^"]+)"', html).group(1)


def _post(client, url: str, body: dict, token: str | None = "page"):
    headers = {}
    if token == "page":
        token = client.csrf
    if token:
        headers["X-CSRFToken"] = token
    return client.post(url, json=body, headers=headers)


def _booked(hour: int, technician=None, minute: int = 0) -> Appointment:
    req = factories.ServiceRequestFactory()
    db.session.commit()
    appt = booking.book(req, at(hour, minute), req.customer, technician=technician)
    db.session.commit()
    return appt


def _events(client, **params) -> list[dict]:
    query = {"start": f"{DAY}T00:00:00Z", "end": f"{DAY + timedelta(days=1)}T00:00:00Z"}
    query.update(params)
    response = client.get("/admin/appointments/events", query_string=query)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


# ---------------------------------------------------------------- the page and its data


def test_calendar_page_carries_opening_hours_and_no_inline_code(admin):
    db.session.merge(OpeningHours(weekday=5, opens_at=time(10), closes_at=time(18, 30)))
    db.session.merge(OpeningHours(weekday=6, closed=True))
    db.session.commit()
    html = admin.get(CAL + f"?date={DAY}&span=day").get_data(as_text=True)
    config = json.loads(unescape(re.search(r'data-config="([^"]+)"', html).group(1)))
    assert config["view"] == "timeGridDay" and config["date"] == DAY.isoformat()
    assert config["timeZone"] == "UTC" and config["slotMinutes"] == 30
    hours = {
        tuple(b["daysOfWeek"]): (b["startTime"], b["endTime"]) for b in config["businessHours"]
    }
    assert hours[(6,)] == ("10:00", "18:30")  # Saturday, not cut off
    assert (0,) not in hours  # Sunday closed
    assert hours[(1,)] == ("09:00", "17:00")
    assert (config["slotMinTime"], config["slotMaxTime"]) == ("09:00", "18:30")
    assert "vendor/fullcalendar/fullcalendar.global.js" in html
    assert "<script>" not in html and " style=" not in html and "onclick" not in html


def test_events_are_in_the_shop_time_zone_with_technician_colours(app, admin):
    app.config["SHOP_TIMEZONE"] = "America/New_York"
    sam = factories.TechnicianFactory(full_name="Sam Screens")
    db.session.merge(ShopSettings(id=1, slot_minutes=30, default_slot_capacity=1))
    factories.open_every_day(time(0), time(23, 30))
    db.session.commit()
    appt = _booked(15, technician=sam)  # 15:00 UTC = 10:00 in New York in winter or 11:00
    local = appt.start.astimezone(slots.shop_tz())
    [event] = _events(admin)
    assert event["start"] == local.isoformat()
    assert event["start"].endswith(("-05:00", "-04:00"))
    props = event["extendedProps"]
    assert props["local"] == local.strftime("%Y-%m-%dT%H:%M")
    assert re.fullmatch(r"\w{3} \d\d \w{3}, \d\d:\d\d–\d\d:\d\d", props["when"])
    assert props["technician"] == "Sam Screens" and props["canChange"] is True
    assert "fmp-tech-0" in event["className"].split()
    assert event["url"] == f"/admin/requests/view/{appt.service_request_id}"


def test_events_filter_by_technician_and_hide_canceled(admin):
    sam, kim = factories.TechnicianFactory(), factories.TechnicianFactory()
    a = _booked(9, technician=sam)
    b = _booked(10, technician=kim)
    c = _booked(11)
    booking.cancel(_booked(12), factories.UserFactory(role="admin"), "Shop closed early")
    db.session.commit()

    def ids(**params):
        return sorted(int(e["id"]) for e in _events(admin, **params))

    assert ids() == sorted([a.id, b.id, c.id])
    assert ids(technician=str(sam.id)) == [a.id]
    assert ids(technician="none") == [c.id]
    shown = _events(admin, canceled="1")
    assert [e["extendedProps"]["cancelReason"] for e in shown if "Canceled" in e["title"]] == [
        "Shop closed early"
    ]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"start": "yesterday", "end": "today"},
        {"start": f"{DAY}T00:00:00Z", "end": f"{DAY}T00:00:00Z"},
        {"start": f"{DAY}T00:00:00Z", "end": f"{DAY + timedelta(days=60)}T00:00:00Z"},
        {"start": "9999-12-31T00:00:00-12:00", "end": "9999-12-31T23:00:00-12:00"},
    ],
)
def test_events_need_a_sane_range(admin, query):
    response = admin.get("/admin/appointments/events", query_string=query)
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"


# ---------------------------------------------------------------- moving


def test_drag_move_is_saved_through_the_booking_service(admin):
    appt = _booked(10)
    response = _post(
        admin, f"/admin/appointments/{appt.id}/reschedule", {"start": at(14).isoformat()}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["message"] == "Appointment moved."
    assert body["event"]["start"] == at(14).isoformat()
    db.session.expire_all()
    assert appt.start == at(14) and appt.end == at(14, 30) and appt.seat == 0


def test_a_move_into_a_full_slot_is_refused_with_the_reason(admin):
    appt = _booked(10)
    _booked(11)
    response = _post(
        admin, f"/admin/appointments/{appt.id}/reschedule", {"start": at(11).isoformat()}
    )
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "conflict" and "full" in error["message"]
    db.session.expire_all()
    assert appt.start == at(10)


@pytest.mark.parametrize(
    "start, status, words",
    [
        ("not a time", 422, "YYYY-MM-DDTHH:MM"),
        ("", 422, "Choose a date and time"),
        (at(8).isoformat(), 409, "outside opening hours"),
        (at(10, 10).isoformat(), 409, "not the start of a slot"),
        (at(10, 0, day=utcnow().date() - timedelta(days=1)).isoformat(), 409, "past"),
        ("9999-12-31T23:30:00-05:00", 422, "too far away"),
        ("0001-01-01T00:00:00+05:00", 422, "too far away"),
        ("3026-01-01T10:00", 422, "too far away"),
    ],
)
def test_bad_move_times_are_refused(admin, start, status, words):
    appt = _booked(10)
    response = _post(admin, f"/admin/appointments/{appt.id}/reschedule", {"start": start})
    assert response.status_code == status
    assert words in response.get_json()["error"]["message"]
    db.session.expire_all()
    assert appt.start == at(10)


def test_keyboard_form_moves_in_shop_time_and_changes_technician(app, admin):
    app.config["SHOP_TIMEZONE"] = "Europe/Paris"
    factories.open_every_day(time(0), time(23, 30))
    sam = factories.TechnicianFactory(full_name="Sam Screens")
    db.session.commit()
    appt = _booked(9)
    response = admin.post(
        f"/admin/appointments/{appt.id}/reschedule",
        data={
            "csrf_token": admin.csrf,
            "start": f"{DAY}T15:30",
            "technician_id": str(sam.id),
            "return_to": f"{CAL}?date={DAY}",
        },
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{CAL}?date={DAY}"
    db.session.expire_all()
    paris = appt.start.astimezone(slots.shop_tz())
    assert (paris.date(), paris.time()) == (DAY, time(15, 30))
    assert appt.technician_id == sam.id


def test_capacity_comes_from_technicians_on_shift(admin):
    sam, kim, lee = (factories.TechnicianFactory(full_name=n) for n in ("Sam", "Kim", "Lee"))
    for tech in (sam, kim):
        db.session.add(
            Shift(technician_id=tech.id, weekday=DAY.weekday(), starts_at=time(9), ends_at=time(17))
        )
    db.session.add(TimeOff(technician_id=kim.id, starts=at(13), ends=at(14)))
    db.session.commit()
    first = _booked(10, technician=sam)
    req = factories.ServiceRequestFactory()
    db.session.commit()
    # Two technicians on shift: a second booking at 10:00 fits, with Kim.
    ok = _post(
        admin,
        "/admin/appointments/add",
        {"service_request_id": req.id, "start": at(10).isoformat(), "technician_id": kim.id},
    )
    assert ok.status_code == 201, ok.get_data(as_text=True)
    # Sam already takes a drop-off at 10:00; Lee has no shift; Kim is away at 13:00.
    third = _booked(11)
    for tech, start, words in (
        (sam, at(10), "full"),
        (lee, at(12), "not on shift"),
        (kim, at(13), "not on shift"),
    ):
        response = _post(
            admin,
            f"/admin/appointments/{third.id}/reschedule",
            {"start": start.isoformat(), "technician_id": tech.id},
        )
        assert response.status_code == 409, (tech.full_name, response.get_json())
        assert words in response.get_json()["error"]["message"]
    # Same slot, another technician who already has one there.
    response = _post(
        admin,
        f"/admin/appointments/{first.id}/reschedule",
        {"start": at(10).isoformat(), "technician_id": kim.id},
    )
    assert (
        response.status_code == 409
        and "already takes a drop-off" in response.get_json()["error"]["message"]
    )
    db.session.expire_all()
    assert (first.technician_id, third.start, third.technician_id) == (sam.id, at(11), None)
    scheduled = sa.select(sa.func.count()).where(
        Appointment.start == at(10), Appointment.status == "scheduled"
    )
    assert db.session.scalar(scheduled) == 2


def test_appointments_of_repairs_in_the_shop_cannot_be_moved_or_canceled(admin):
    appt = _booked(10)
    req = appt.service_request
    # An old appointment left scheduled while the device is being repaired.
    req.status, req.checked_in_at = "in_progress", utcnow()
    db.session.commit()
    [event] = _events(admin)
    assert event["startEditable"] is False and event["extendedProps"]["canChange"] is False
    assert "already in the shop" in event["extendedProps"]["refusal"]
    move = _post(admin, f"/admin/appointments/{appt.id}/reschedule", {"start": at(14).isoformat()})
    cancel = _post(admin, f"/admin/appointments/{appt.id}/cancel", {"reason": "Tidy up"})
    for response in (move, cancel):
        assert response.status_code == 409
        assert "already in the shop" in response.get_json()["error"]["message"]
    db.session.expire_all()
    assert (appt.start, appt.status) == (at(10), "scheduled")


# ---------------------------------------------------------------- booking and canceling


def test_book_from_an_empty_slot_with_a_technician(admin):
    sam = factories.TechnicianFactory()
    req = factories.ServiceRequestFactory()
    db.session.commit()
    response = _post(
        admin,
        "/admin/appointments/add",
        {"reference": req.reference.lower(), "start": f"{DAY}T11:30", "technician_id": str(sam.id)},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["event"]["extendedProps"]["reference"] == req.reference
    appt = db.session.scalar(sa.select(Appointment))
    assert (appt.start, appt.technician_id, appt.status) == (at(11, 30), sam.id, "scheduled")
    db.session.refresh(req)
    assert req.status == "scheduled"


@pytest.mark.parametrize(
    "body, status, field",
    [
        ({"start": f"{DAY}T11:30"}, 422, "reference"),
        ({"reference": "FMP-NOPE00", "start": f"{DAY}T11:30"}, 422, "reference"),
        (
            {"reference": "{ref}", "start": f"{DAY}T11:30", "technician_id": "{customer}"},
            422,
            "technician_id",
        ),
        (
            {"reference": "{ref}", "start": f"{DAY}T11:30", "technician_id": "99999999999"},
            422,
            "technician_id",
        ),
        ({"reference": "{ref}", "start": "tomorrow"}, 422, "start"),
    ],
)
def test_bad_bookings_are_refused(admin, body, status, field):
    req = factories.ServiceRequestFactory()
    db.session.commit()
    body = {k: v.format(ref=req.reference, customer=req.customer_id) for k, v in body.items()}
    response = _post(admin, "/admin/appointments/add", body)
    assert response.status_code == status
    assert field in response.get_json()["error"]["fields"]
    assert db.session.scalar(sa.select(sa.func.count(Appointment.id))) == 0


def test_a_body_that_is_not_an_object_is_refused(admin):
    response = admin.post(
        "/admin/appointments/add",
        data="[1, 2]",
        headers={"X-CSRFToken": admin.csrf, "Content-Type": "application/json"},
    )
    assert response.status_code == 422
    assert response.get_json()["error"]["code"] == "validation_error"


def test_repairs_already_booked_or_in_the_shop_cannot_be_booked(admin):
    booked = _booked(10).service_request
    started = factories.ServiceRequestFactory(status="in_progress")
    db.session.commit()
    response = _post(
        admin,
        "/admin/appointments/add",
        {"reference": booked.reference, "start": at(12).isoformat()},
    )
    assert (
        response.status_code == 409
        and "reschedule it instead" in response.get_json()["error"]["message"]
    )
    response = _post(
        admin,
        "/admin/appointments/add",
        {"reference": started.reference, "start": at(12).isoformat()},
    )
    assert (
        response.status_code == 409
        and "already in the shop" in response.get_json()["error"]["message"]
    )


def test_the_repair_picker_offers_bookable_repairs_only(admin):
    fresh = factories.ServiceRequestFactory(customer=factories.CustomerFactory(full_name="Zoe Zed"))
    factories.ServiceRequestFactory(status="in_progress")
    factories.ServiceRequestFactory(status="completed")
    booked = _booked(10).service_request
    db.session.commit()
    rows = admin.get("/admin/appointments/repairs").get_json()
    assert [r["reference"] for r in rows] == [fresh.reference]
    assert "Zoe Zed" in rows[0]["label"]
    assert admin.get("/admin/appointments/repairs?q=zoe").get_json()[0]["id"] == fresh.id
    assert admin.get("/admin/appointments/repairs?q=nobody").get_json() == []
    assert booked.reference not in json.dumps(rows)


def test_cancel_needs_a_reason_and_frees_the_seat(admin):
    appt = _booked(10)
    url = f"/admin/appointments/{appt.id}/cancel"
    missing = _post(admin, url, {"reason": "  "})
    assert missing.status_code == 422 and "reason" in missing.get_json()["error"]["fields"]
    too_long = _post(admin, url, {"reason": "x" * 301})
    assert too_long.status_code == 422
    db.session.expire_all()
    assert appt.status == "scheduled"
    response = _post(admin, url, {"reason": "Technician ill"})
    assert response.status_code == 200
    assert response.get_json()["event"]["extendedProps"]["cancelReason"] == "Technician ill"
    db.session.expire_all()
    assert (appt.status, appt.cancel_reason, appt.seat) == ("canceled", "Technician ill", None)
    assert appt.service_request.status == "on_hold"
    # The place is free again.
    assert slots.find_slot(at(10)).free == 1


def test_unknown_appointments_answer_404(admin):
    response = _post(admin, "/admin/appointments/4242/reschedule", {"start": at(11).isoformat()})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


# ---------------------------------------------------------------- who may, and CSRF


def test_csrf_token_is_required_in_the_header(admin):
    appt = _booked(10)
    url = f"/admin/appointments/{appt.id}/reschedule"
    for token in (None, "forged-token"):
        response = _post(admin, url, {"start": at(14).isoformat()}, token=token)
        assert response.status_code == 400
    response = _post(admin, f"/admin/appointments/{appt.id}/cancel", {"reason": "x"}, token=None)
    assert response.status_code == 400
    db.session.expire_all()
    assert (appt.start, appt.status) == (at(10), "scheduled")


@pytest.mark.parametrize("role", ["anonymous", "customer", "technician"])
def test_only_admins_reach_the_calendar_endpoints(app, shop, role):
    client, user = client_for(app, role)
    appt = _booked(10)
    token_page = "/account/login" if role == "anonymous" else "/"
    html = client.get(token_page).get_data(as_text=True)
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html)
    headers = {"X-CSRFToken": token.group(1)} if token else {}
    responses = [
        client.get(CAL),
        client.get(
            "/admin/appointments/events",
            query_string={"start": f"{DAY}T00:00Z", "end": f"{DAY}T23:00Z"},
        ),
        client.get("/admin/appointments/repairs"),
        client.post(
            f"/admin/appointments/{appt.id}/reschedule",
            json={"start": at(14).isoformat()},
            headers=headers,
        ),
        client.post(f"/admin/appointments/{appt.id}/cancel", json={"reason": "x"}, headers=headers),
        client.post("/admin/appointments/add", json={"reference": "x"}, headers=headers),
    ]
    for response in responses:
        if role == "anonymous":
            assert response.status_code == 302 and "/account/login" in response.headers["Location"]
        else:
            assert response.status_code == 403
    db.session.expire_all()
    assert (appt.start, appt.status) == (at(10), "scheduled")


def test_check_in_completes_the_appointment_and_frees_its_seat(admin):
    appt = _booked(15)
    admin_user = factories.UserFactory(role="admin")
    move_status(appt.service_request, "in_progress", admin_user)
    db.session.commit()
    db.session.expire_all()
    assert (appt.status, appt.seat) == ("completed", None)
    assert slots.find_slot(at(15)).free == 1
    [event] = _events(admin)
    assert event["extendedProps"]["statusLabel"] == "Device received"
    assert event["startEditable"] is False
