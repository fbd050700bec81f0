"""Booking, moving and canceling a drop-off slot from the customer's pages."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import Appointment, ShopSettings, utcnow
from fixmyphone.services import booking, drop_off

from .. import factories
from .conftest import post_form, slot_at


def _book_url(r) -> str:
    return f"/account/repairs/{r.id}/book"


def test_free_slots_are_offered_per_day(customer_client, open_shop, repair):
    html = customer_client.get(_book_url(repair)).get_data(as_text=True)
    tomorrow = slot_at(1, 10)
    assert tomorrow.strftime("%A %d %B") in html
    assert f'value="{tomorrow.isoformat()}"' in html
    assert html.count('name="start"') >= 16 * 6  # a week of 16 half-hour slots (today partly)
    assert "up to 2 hours before" in html


def test_past_and_full_slots_are_not_offered(customer_client, open_shop, repair):
    full = slot_at(1, 11)
    other = factories.ServiceRequestFactory()
    booking.book(other, full, other.customer)
    db.session.commit()
    html = customer_client.get(_book_url(repair)).get_data(as_text=True)
    assert f'value="{full.isoformat()}"' not in html
    assert f'value="{slot_at(1, 11, 30).isoformat()}"' in html
    assert f'value="{slot_at(0, 9).isoformat()}"' not in html or utcnow() < slot_at(0, 9)
    yesterday = slot_at(-1, 10)
    assert f'value="{yesterday.isoformat()}"' not in html


def test_closed_days_say_so(customer_client, app, repair):
    factories.open_every_day()
    from fixmyphone.models import OpeningHours

    db.session.merge(OpeningHours(weekday=slot_at(1).weekday(), closed=True))
    db.session.commit()
    html = customer_client.get(_book_url(repair)).get_data(as_text=True)
    assert "No free times this day." in html


def test_later_dates_are_paged(customer_client, open_shop, repair):
    first = customer_client.get(_book_url(repair)).get_data(as_text=True)
    later = (utcnow().date() + timedelta(days=7)).isoformat()
    assert f"from={later}" in first
    html = customer_client.get(_book_url(repair) + f"?from={later}").get_data(as_text=True)
    assert f'value="{slot_at(7, 10).isoformat()}"' in html
    assert f'value="{slot_at(1, 10).isoformat()}"' not in html


def test_booking_horizon_is_respected(customer_client, open_shop, repair):
    db.session.add(ShopSettings(booking_horizon_days=3))
    db.session.commit()
    html = customer_client.get(_book_url(repair) + "?from=2999-01-01").get_data(as_text=True)
    assert f'value="{slot_at(2, 10).isoformat()}"' in html
    assert f'value="{slot_at(3, 10).isoformat()}"' not in html
    assert "Later dates" not in html


def test_book_a_slot(customer_client, open_shop, repair):
    start = slot_at(2, 14, 30)
    response = post_form(customer_client, _book_url(repair), {"start": start.isoformat()})
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/account/repairs/{repair.id}")
    db.session.refresh(repair)
    appointment = drop_off.active_appointment(repair)
    assert appointment.start == start and repair.status == "scheduled"
    page = customer_client.get(f"/account/repairs/{repair.id}").get_data(as_text=True)
    assert "You are booked in" in page
    assert "Your drop-off appointment" in page
    deadline = (start - timedelta(minutes=120)).strftime("%a %d %b %Y, %H:%M")
    assert deadline in page  # the cut-off, shown as a time


@pytest.mark.parametrize(
    ("value", "status", "message"),
    [
        ("", 422, "Choose one of the free times"),
        ("next tuesday", 422, "Choose one of the free times"),
        ("2030-01-01T10:00:00", 422, "Choose one of the free times"),  # no offset
        ("{tomorrow_0815}", 409, "outside opening hours"),
        ("{tomorrow_2000}", 409, "outside opening hours"),
        ("{yesterday}", 409, "in the past"),
        ("9999-12-31T23:30:00-05:00", 409, "outside opening hours"),
        ("0001-01-01T00:00:00+05:00", 409, "outside opening hours"),
    ],
)
def test_bad_slots_are_refused(customer_client, open_shop, repair, value, status, message):
    value = value.format(
        tomorrow_0815=slot_at(1, 8, 15).isoformat(),
        tomorrow_2000=slot_at(1, 20).isoformat(),
        yesterday=slot_at(-1, 10).isoformat(),
    )
    response = post_form(customer_client, _book_url(repair), {"start": value})
    assert response.status_code == status
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Appointment.id))) == 0


def test_full_slot_gets_a_clear_message(customer_client, open_shop, repair):
    start = slot_at(1, 10)
    other = factories.ServiceRequestFactory()
    booking.book(other, start, other.customer)
    db.session.commit()
    response = post_form(customer_client, _book_url(repair), {"start": start.isoformat()})
    assert response.status_code == 409
    assert "That slot is full; please choose another time." in response.get_data(as_text=True)


def test_reschedule_moves_the_appointment(customer_client, open_shop, repair):
    booking.book(repair, slot_at(2, 10), repair.customer)
    db.session.commit()
    html = customer_client.get(_book_url(repair)).get_data(as_text=True)
    assert "Move your appointment" in html
    new = slot_at(3, 15)
    response = post_form(customer_client, _book_url(repair), {"start": new.isoformat()})
    assert response.status_code == 302
    appointments = db.session.scalars(sa.select(Appointment)).all()
    assert len(appointments) == 1 and appointments[0].start == new


def test_cancel_appointment(customer_client, open_shop, repair):
    booking.book(repair, slot_at(2, 10), repair.customer)
    db.session.commit()
    page = f"/account/repairs/{repair.id}"
    response = post_form(
        customer_client, page, {"reason": "Fixed it myself"}, url=page + "/appointment/cancel"
    )
    assert response.status_code == 302
    appointment = db.session.scalar(sa.select(Appointment))
    assert appointment.status == "canceled" and appointment.cancel_reason == "Fixed it myself"
    db.session.refresh(repair)
    assert repair.status == "on_hold"
    # The slot is free again and the repair can be booked anew.
    assert f'value="{slot_at(2, 10).isoformat()}"' in customer_client.get(
        _book_url(repair)
    ).get_data(as_text=True)


def test_changes_inside_the_cutoff_are_refused(customer_client, app, repair):
    factories.open_every_day(opens=time(0), closes=time(23, 30))
    db.session.commit()
    soon = utcnow().replace(second=0, microsecond=0)
    soon = soon - timedelta(minutes=soon.minute % 30) + timedelta(minutes=60)
    if soon.date() != utcnow().date() or soon.hour >= 23:
        pytest.skip("too close to midnight for a same-day slot")
    booking.book(repair, soon, repair.customer)
    db.session.commit()
    html = customer_client.get(_book_url(repair)).get_data(as_text=True)
    assert "can no longer be changed online" in html
    later = slot_at(2, 10)
    response = post_form(customer_client, _book_url(repair), {"start": later.isoformat()})
    assert response.status_code == 403
    assert "up to 2 hours before" in response.get_data(as_text=True)
    page = f"/account/repairs/{repair.id}"
    response = post_form(customer_client, page, {}, url=page + "/appointment/cancel")
    assert response.status_code == 302
    follow = customer_client.get(page).get_data(as_text=True)
    assert "please call the shop" in follow
    assert db.session.scalar(sa.select(Appointment)).status == "scheduled"


def test_cutoff_comes_from_config(customer_client, open_shop, repair, app):
    app.config["BOOKING_CUTOFF_MINUTES"] = 90
    html = customer_client.get(_book_url(repair)).get_data(as_text=True)
    assert "up to 90 minutes before" in html


def test_another_customers_repair_cannot_be_booked(customer_client, open_shop, other_repair):
    assert customer_client.get(_book_url(other_repair)).status_code == 404
    response = post_form(
        customer_client,
        "/account",
        {"start": slot_at(1, 10).isoformat()},
        url=_book_url(other_repair),
    )
    assert response.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count(Appointment.id))) == 0


def test_booking_needs_login(client, open_shop, other_repair):
    response = client.get(_book_url(other_repair))
    assert response.status_code == 302 and "/account/login" in response.headers["Location"]


# ---------------------------------------------------------------- pages that follow the repair


BRING = "Bring your device to the shop at your appointment time"


def _booked_then(repair, status: str, checked_in: bool = True):
    """The repair booked in, then moved on with its old appointment still scheduled."""
    appointment = booking.book(repair, slot_at(2, 10), repair.customer)
    db.session.commit()
    repair.status = status
    if checked_in:
        repair.checked_in_at = utcnow()
    db.session.commit()
    return appointment


def test_a_scheduled_repair_offers_move_and_cancel(customer_client, open_shop, repair):
    booking.book(repair, slot_at(2, 10), repair.customer)
    db.session.commit()
    page = customer_client.get(f"/account/repairs/{repair.id}").get_data(as_text=True)
    assert BRING in page and "Move it" in page and "Cancel it" in page
    token_page = customer_client.get(f"/track/{repair.tracking_token}").get_data(as_text=True)
    assert BRING in token_page and "Move or cancel it from your account" in token_page


@pytest.mark.parametrize(
    ("status", "checked_in", "words"),
    [
        ("in_progress", True, "already in the shop"),
        ("awaiting_parts", True, "already in the shop"),
        ("on_hold", True, "already in the shop"),
        ("ready_for_pickup", True, "already in the shop"),
        ("completed", True, "is completed"),
        ("closed", True, "is closed"),
        ("canceled", False, "is canceled"),
    ],
)
def test_no_drop_off_actions_once_the_device_is_in_or_the_repair_is_over(
    customer_client, client, open_shop, repair, status, checked_in, words
):
    appointment = _booked_then(repair, status, checked_in)
    for html in (
        customer_client.get(f"/account/repairs/{repair.id}").get_data(as_text=True),
        client.get(f"/track/{repair.tracking_token}").get_data(as_text=True),
    ):
        assert BRING not in html
        assert "Your drop-off appointment" not in html
        assert "Move it" not in html and "Cancel it" not in html
        assert "Book a time" not in html and "/book" not in html
    # The booking page says why, with no slots to pick.
    book_page = customer_client.get(_book_url(repair))
    text = book_page.get_data(as_text=True)
    assert book_page.status_code == 200 and words in text
    assert 'name="start"' not in text and "Cancel my appointment" not in text
    # Posting anyway: refused by the booking service, shown on the page, nothing changes.
    response = post_form(customer_client, _book_url(repair), {"start": slot_at(3, 11).isoformat()})
    assert response.status_code == 409
    assert words in response.get_data(as_text=True)
    page = f"/account/repairs/{repair.id}"
    response = post_form(customer_client, page, {"reason": "x"}, url=page + "/appointment/cancel")
    assert response.status_code == 302
    assert words in customer_client.get(page).get_data(as_text=True)
    db.session.expire_all()
    assert (appointment.start, appointment.status) == (slot_at(2, 10), "scheduled")


def test_the_account_list_follows_the_status_too(customer_client, open_shop, repair):
    _booked_then(repair, "in_progress")
    html = customer_client.get("/account").get_data(as_text=True)
    assert repair.reference in html
    assert BRING not in html and "Drop-off" not in html and "Book a time" not in html


def test_a_repair_on_hold_before_drop_off_can_be_booked_again(customer_client, open_shop, repair):
    appointment = booking.book(repair, slot_at(2, 10), repair.customer)
    db.session.commit()
    booking.cancel(appointment, repair.customer, "Away that day")
    db.session.commit()
    assert repair.status == "on_hold"
    page = customer_client.get(f"/account/repairs/{repair.id}").get_data(as_text=True)
    assert "Book a time" in page and BRING not in page
    response = post_form(customer_client, _book_url(repair), {"start": slot_at(3, 11).isoformat()})
    assert response.status_code == 302
