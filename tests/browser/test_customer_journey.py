"""The whole customer journey in a real browser: sign up while requesting a repair, book a
slot, track it with the reference, write to the shop, update the profile."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from fixmyphone.extensions import db
from fixmyphone.models import Appointment, Message, ServiceRequest, User

pytestmark = pytest.mark.browser


@pytest.fixture
def photo(tmp_path):
    from PIL import Image

    path = tmp_path / "cracked-screen.png"
    Image.new("RGB", (32, 32), (220, 40, 40)).save(path, "PNG")
    return str(path)


def test_sign_up_request_book_track_message_and_update_profile(live_server, shop_page, photo):
    page, base = shop_page, live_server.base_url

    # Home: book a repair.
    page.goto(base + "/")
    expect(page.get_by_role("heading", level=1)).to_contain_text("repairs you can follow")
    expect(page.get_by_role("heading", name="Opening hours")).to_be_visible()
    page.get_by_role("main").get_by_role("link", name="Book a repair").first.click()
    expect(page).to_have_url(re.compile(r"/repair/new$"))

    # The request form, signing up in the same step; a wrong IMEI first.
    page.get_by_label("Device type").select_option("phone")
    page.get_by_label("Brand").fill("Samsung")
    page.get_by_label("Model").fill("Galaxy S23")
    page.get_by_label("IMEI (optional)").fill("490154203237517")
    page.get_by_label("What is wrong?").fill("Screen cracked after a drop; touch still works.")
    page.get_by_label("Photos of the damage (optional)").set_input_files(photo)
    expect(page.get_by_label("No, create one")).to_be_checked()
    page.get_by_label("Full name").fill("Jo Journey")
    page.locator("#email").fill("jo@example.com")
    page.get_by_label("Phone (optional)").fill("+1 555 0142")
    page.get_by_label(re.compile("^Choose a password")).fill("journey-pass-1")
    page.get_by_role("button", name="Send my repair request").click()

    expect(page.locator("#imei-error")).to_contain_text("valid check digit")
    expect(page.get_by_role("alert")).to_contain_text("IMEI")
    expect(page.get_by_label("Brand")).to_have_value("Samsung")
    expect(page.get_by_label("What is wrong?")).to_have_value(
        "Screen cracked after a drop; touch still works."
    )
    expect(page.get_by_label("Full name")).to_have_value("Jo Journey")

    page.get_by_label("IMEI (optional)").fill("490154203237518")
    page.get_by_label("Photos of the damage (optional)").set_input_files(photo)
    page.get_by_label(re.compile("^Choose a password")).fill("journey-pass-1")
    page.get_by_role("button", name="Send my repair request").click()

    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, we have your request")
    reference = page.locator(".reference").inner_text().strip()
    assert re.fullmatch(r"FMP-[0-9A-Z]{6}", reference)
    expect(page.get_by_role("heading", name="What happens next")).to_be_visible()

    # Book the first free slot.
    page.get_by_role("link", name="Book a drop-off slot").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Book a drop-off time")
    expect(page.get_by_text(re.compile("up to 2 hours before"))).to_be_visible()
    first_slot = page.locator(".slot label").first
    first_slot.click()
    page.get_by_role("button", name="Book this time").click()
    expect(page.locator(".flash-success")).to_contain_text("You are booked in")
    expect(page.locator("#current-status")).to_have_text("Scheduled")
    expect(page.locator("#timeline")).to_contain_text("Scheduled")
    expect(page.get_by_role("img", name=re.compile("Photo 1 of the damage"))).to_be_visible()

    # Log out and track the repair with the reference and email.
    page.get_by_role("button", name="Log out").click()
    expect(page.locator(".flash-info")).to_contain_text("logged out")
    page.get_by_label("Repair reference").fill(reference.lower())
    page.get_by_label("Email or phone number").fill("JO@example.com")
    page.get_by_role("button", name="Track my repair").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(reference)
    expect(page.locator("#timeline li")).to_have_count(2)  # Pending, Scheduled
    expect(page.get_by_text("Bring your device to the shop")).to_be_visible()

    # Write to the shop through the private link.
    page.get_by_label("Your message").fill("Can I have it back by Friday?")
    page.get_by_role("button", name="Send message").click()
    expect(page.locator(".flash-success")).to_contain_text("Message sent")
    expect(page.locator(".thread")).to_contain_text("Can I have it back by Friday?")

    # Log back in and update the profile.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in").click()
    page.get_by_label("Email").fill("jo@example.com")
    page.get_by_label("Password").fill("journey-pass-1")
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Hello Jo")
    expect(page.get_by_text(reference)).to_be_visible()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Profile").click()
    page.get_by_label("City").fill("Springfield")
    page.get_by_label("Text me (needs a phone number)").check()
    page.get_by_label("A quote is ready: SMS").check()
    page.get_by_label("Payment received: Email").uncheck()
    page.get_by_role("button", name="Save my details").click()
    expect(page.locator(".flash-success")).to_have_text("Your details are saved.")
    expect(page.get_by_label("City")).to_have_value("Springfield")
    expect(page.get_by_label("A quote is ready: SMS")).to_be_checked()

    # Chrome logs the deliberate 422 (the wrong IMEI) as a failed load; nothing else may show.
    expected = [p for p in page.problems if "status of 422" in p]
    assert len(expected) == 1, page.problems
    assert [p for p in page.problems if p not in expected] == [], page.problems

    with live_server.app_context():
        user = db.session.scalar(sa.select(User).where(User.email == "jo@example.com"))
        request = db.session.scalar(sa.select(ServiceRequest))
        assert request.reference == reference and request.customer_id == user.id
        assert request.imei == "490154203237518" and len(request.photos) == 1
        assert request.status == "scheduled"
        assert db.session.scalar(sa.select(sa.func.count(Appointment.id))) == 1
        assert db.session.scalar(sa.select(Message.body)) == "Can I have it back by Friday?"
        profile = user.customer_profile
        assert profile.city == "Springfield" and profile.notify_sms is True
        assert profile.notification_prefs["quote_sent"]["sms"] is True
        assert profile.notification_prefs["payment_received"]["email"] is False
        db.session.remove()


def test_phone_sized_screen_has_a_working_menu_and_no_sideways_scroll(live_server, shop_page):
    page, base = shop_page, live_server.base_url
    page.set_viewport_size({"width": 375, "height": 740})
    for path in ("/", "/repair/new", "/track", "/account/login"):
        page.goto(base + path)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, (path, overflow)
    page.goto(base + "/")
    menu = page.get_by_role("button", name="Menu")
    nav_link = page.get_by_role("navigation", name="Main").get_by_role(
        "link", name="Track a repair"
    )
    expect(menu).to_be_visible()
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav_link).to_be_hidden()
    menu.click()
    expect(menu).to_have_attribute("aria-expanded", "true")
    expect(nav_link).to_be_visible()
    nav_link.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Track a repair")
    assert page.problems == [], page.problems


def test_keyboard_users_can_skip_to_content_and_see_focus(live_server, shop_page):
    page, base = shop_page, live_server.base_url
    page.goto(base + "/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile("#main$"))
    assert page.problems == [], page.problems
