"""The back office's appointment calendar in Chromium, under the real CSP: drag an appointment
to a free slot and see it saved; drag one onto a full slot and see it go back with the reason;
cancel one with a reason in the dialog; move one from the keyboard; book from an empty slot.
Screenshots at 1280×800 and 390×844 land in test-artifacts/."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from fixmyphone.extensions import db
from fixmyphone.models import Appointment, ShopSettings, utcnow
from fixmyphone.services import booking

from .. import factories
from .conftest import ARTIFACTS, log_in

pytestmark = pytest.mark.browser


def _day():
    """A day far enough ahead that every slot of it is bookable."""
    return (utcnow() + timedelta(days=2)).date()


def _at(hour: int, minute: int = 0) -> datetime:
    return datetime.combine(_day(), time(hour, minute), tzinfo=UTC)


@pytest.fixture
def shop(live_server):
    """An admin, two technicians, three appointments on one day, one place per slot."""
    with live_server.app_context():
        factories.open_every_day(time(9), time(17, 30))
        db.session.add(ShopSettings(slot_minutes=30, default_slot_capacity=1))
        admin = factories.UserFactory(role="admin", full_name="Ada Admin")
        sam = factories.TechnicianFactory(full_name="Sam Screens")
        kim = factories.TechnicianFactory(full_name="Kim Boards")
        repairs = {
            name: factories.ServiceRequestFactory(customer=factories.CustomerFactory(full_name=who))
            for name, who in (
                ("drag", "Dana Drag"),
                ("full", "Fran Full"),
                ("cancel", "Cara Cancel"),
                ("new", "Nico New"),
            )
        }
        db.session.commit()
        booking.book(repairs["drag"], _at(10), admin, technician=sam)
        booking.book(repairs["full"], _at(11), admin, technician=kim)
        booking.book(repairs["cancel"], _at(14), admin)
        db.session.commit()
        refs = {name: r.reference for name, r in repairs.items()}
        ids = {name: r.id for name, r in repairs.items()}
        email = admin.email
        techs = {"sam": sam.id, "kim": kim.id}
        db.session.remove()
    return {"email": email, "refs": refs, "ids": ids, "techs": techs}


def _appointment(app, request_id: int) -> Appointment:
    with app.app_context():
        found = db.session.scalar(
            sa.select(Appointment)
            .where(Appointment.service_request_id == request_id)
            .order_by(Appointment.id.desc())
        )
        db.session.expunge_all()
        db.session.remove()
        return found


def _open_calendar(page, base: str) -> None:
    page.goto(f"{base}/admin/appointments/calendar?date={_day().isoformat()}&span=day")
    expect(page.locator("#cal-agenda tbody tr")).not_to_have_count(0)
    expect(page.locator("#cal-agenda")).not_to_contain_text("Loading")


def _event(page, reference: str):
    return page.locator("#calendar a", has_text=reference).first


def _drag_to(page, reference: str, hhmm: str) -> None:
    """Drag an event by the mouse onto the slot starting at hh:mm in the day column."""
    target = page.locator(f"#calendar [data-time='{hhmm}:00']").last
    target.scroll_into_view_if_needed()
    source = _event(page, reference).bounding_box()
    lane = target.bounding_box()
    column = page.locator(f"#calendar [data-date='{_day().isoformat()}']").last.bounding_box()
    page.mouse.move(source["x"] + source["width"] / 2, source["y"] + 4)
    page.mouse.down()
    x = column["x"] + column["width"] / 2
    y = lane["y"] + 4
    for step in range(1, 11):
        page.mouse.move(x, source["y"] + 4 + (y - source["y"]) * step / 10)
    page.mouse.up()


def _shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"calendar-{name}.png"), full_page=True)


def test_drag_refuse_cancel_move_and_book_in_the_calendar(live_server, shop, shop_page):
    page, base = shop_page, live_server.base_url
    refs = shop["refs"]
    page.set_viewport_size({"width": 1280, "height": 800})
    log_in(page, base, shop["email"])
    _open_calendar(page, base)
    expect(_event(page, refs["drag"])).to_be_visible()
    expect(page.locator("#cal-agenda")).to_contain_text("Sam Screens")
    # Times without seconds, in 24 hours.
    expect(page.locator("#calendar")).to_contain_text("10:00")
    assert not re.search(r"\d\d:\d\d:\d\d", page.locator("#calendar").inner_text())
    _shot(page, "1280-day")

    # Drag to a free slot: saved through the booking service.
    _drag_to(page, refs["drag"], "12:00")
    expect(page.locator("#cal-status")).to_contain_text("Appointment moved")
    moved = _appointment(live_server, shop["ids"]["drag"])
    assert moved.start == _at(12) and moved.status == "scheduled"

    # Drag onto the full 11:00 slot: refused, the reason shown, the event back at 12:00.
    _drag_to(page, refs["drag"], "11:00")
    expect(page.locator("#cal-error")).to_contain_text("was not moved")
    expect(page.locator("#cal-error")).to_contain_text("full")
    assert _appointment(live_server, shop["ids"]["drag"]).start == _at(12)
    expect(page.locator("#cal-agenda tr", has_text=refs["drag"])).to_contain_text("12:00")
    box = _event(page, refs["drag"]).bounding_box()
    noon = page.locator("#calendar [data-time='12:00:00']").last.bounding_box()
    assert abs(box["y"] - noon["y"]) < noon["height"], "the refused event went back to 12:00"
    _shot(page, "1280-refused")

    # Cancel with a reason in the dialog (the keyboard's way too).
    row = page.locator("#cal-agenda tr", has_text=refs["cancel"])
    row.get_by_role("button", name=f"Cancel {refs['cancel']}").click()
    dialog = page.locator("#cancel-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_label("Reason (sent to the customer)").fill("The technician is ill")
    dialog.get_by_role("button", name="Cancel the appointment").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#cal-status")).to_contain_text("Appointment canceled")
    canceled = _appointment(live_server, shop["ids"]["cancel"])
    assert canceled.status == "canceled" and canceled.cancel_reason == "The technician is ill"
    expect(_event(page, refs["cancel"])).to_have_count(0)

    # Move from the keyboard: the Move dialog's date-and-time box and technician picker.
    page.locator("#cal-agenda tr", has_text=refs["full"]).get_by_role(
        "button", name=f"Move {refs['full']}"
    ).focus()
    page.keyboard.press("Enter")
    move = page.locator("#move-dialog")
    expect(move).to_be_visible()
    expect(page.locator("#move-start")).to_be_focused()
    page.locator("#move-start").fill(f"{_day().isoformat()}T15:30")
    move.get_by_label("Technician").select_option(label="Sam Screens")
    page.keyboard.press("Enter")
    expect(move).to_be_hidden()
    again = _appointment(live_server, shop["ids"]["full"])
    assert again.start == _at(15, 30)
    assert again.technician_id == shop["techs"]["sam"]

    # Book from an empty slot: pick the repair and the technician in the dialog.
    lane = page.locator("#calendar [data-time='16:00:00']").last.bounding_box()
    column = page.locator(f"#calendar [data-date='{_day().isoformat()}']").last.bounding_box()
    page.mouse.click(column["x"] + column["width"] / 2, lane["y"] + 4)
    add = page.locator("#add-dialog")
    expect(add).to_be_visible()
    expect(page.locator("#add-start")).to_have_value(f"{_day().isoformat()}T16:00")
    add.get_by_label("Repair (reference or customer name)").fill(refs["new"])
    add.get_by_label("Technician").select_option(label="Kim Boards")
    add.get_by_role("button", name="Book").click()
    expect(add).to_be_hidden()
    expect(page.locator("#cal-status")).to_contain_text("Appointment booked")
    booked = _appointment(live_server, shop["ids"]["new"])
    assert booked is not None and booked.start == _at(16) and booked.status == "scheduled"
    assert booked.technician_id == shop["techs"]["kim"]
    expect(page.locator("#cal-agenda")).to_contain_text(refs["new"])
    _shot(page, "1280-after")

    # Week view fits Monday to Sunday, Saturday included.
    page.get_by_role("tab", name=re.compile("week", re.I)).click()
    expect(page).to_have_url(re.compile(r"span=week"))
    saturday = page.locator("#calendar [role='columnheader']", has_text=re.compile("Sat"))
    expect(saturday.first).to_be_visible()
    cal = page.locator("#calendar").bounding_box()
    sat = saturday.first.bounding_box()
    assert sat["x"] + sat["width"] <= cal["x"] + cal["width"] + 1
    _shot(page, "1280-week")

    # Click an event: the repair page opens.
    _event(page, refs["drag"]).click()
    expect(page).to_have_url(re.compile(rf"/admin/requests/view/{shop['ids']['drag']}$"))

    # A phone: the day view, no sideways scrolling.
    page.set_viewport_size({"width": 390, "height": 844})
    _open_calendar(page, base)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, f"the page scrolls sideways ({width}px)"
    _shot(page, "390-day")

    # Chromium logs every 4xx fetch; the one refused move (409) is the expected one.
    expected = "the server responded with a status of 409"
    assert sum(expected in p for p in page.problems) == 1, page.problems
    others = [p for p in page.problems if expected not in p]
    assert not others, "\n".join(others)
