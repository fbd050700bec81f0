"""A shop day of billing in a real browser, through the screens only.

A new customer requests a repair and books a drop-off; an admin checks the phone in and gives
it to a technician; the technician builds a two-line estimate (the screen from stock and an
hour of labour); the customer approves it on the private tracking link; the technician fits
the screen, records the labour actually worked and moves the phone to ready for pickup; the
invoice appears for the customer; completing it unpaid is refused with the amount. Then the
customer pays online (Stripe's Checkout played by the local Stripe double, confirmed by a
signed webhook) in one test, or in cash at the counter checkout in the other; the repair
completes and the receipt PDF lists the lines and the tax.

Only the users and a part in stock are made directly. Screenshots go to /tmp/billing-*.png.
"""

from __future__ import annotations

import io
import json
import re
import time
import urllib.request
from urllib.parse import urljoin

import pytest
import sqlalchemy as sa
import stripe
from playwright.sync_api import expect
from pypdf import PdfReader

from fixmyphone.extensions import db
from fixmyphone.models import Invoice, Payment, ServiceRequest

from .. import factories
from ..payments.stripe_fake import StripeFake
from .conftest import log_in

pytestmark = pytest.mark.browser

WEBHOOK_SECRET = "whsec_billing_day"
ADMIN = "admin@shop.example"
TECH = "tech@shop.example"
CUSTOMER = "robin@example.com"
CUSTOMER_PASSWORD = "robin-pass-42"


def shot(page, name: str) -> None:
    page.screenshot(path=f"/tmp/billing-{name}.png", full_page=True)


@pytest.fixture
def stripe_double():
    """The Stripe double, handing out Checkout URLs on Stripe's real host (the shop's CSP lets
    the pay form go there and nowhere else); the browser test answers that host itself."""
    server = StripeFake().start()
    create = server._create_session

    def on_stripe_host(params):
        session = create(params)
        session["url"] = session["url"].replace("checkout.stripe.test", "checkout.stripe.com")
        return session

    server._create_session = on_stripe_host
    yield server
    server.stop()


@pytest.fixture
def shop(live_server, stripe_double):
    """20 % tax, $60.00 an hour, Stripe pointed at the double; an admin, a technician and a
    screen in stock. Nothing else is made here: the rest happens on the screens."""
    live_server.config.update(
        TAX_RATE_BP=2000,
        LABOUR_RATE=6000,
        STRIPE_SECRET_KEY="sk_test_billing_day",
        STRIPE_PUBLISHABLE_KEY="pk_test_billing_day",
        STRIPE_WEBHOOK_SECRET=WEBHOOK_SECRET,
        STRIPE_API_BASE=stripe_double.url,
        STRIPE_TIMEOUT=5,
    )
    with live_server.app_context():
        factories.UserFactory(role="admin", email=ADMIN, full_name="Ada Admin")
        factories.TechnicianFactory(email=TECH, full_name="Theo Tech")
        factories.PartFactory(
            sku="SCR-S23", name="Galaxy S23 screen", price=11900, cost=6000, on_hand=3
        )
        db.session.commit()
        db.session.remove()
    return live_server


def staff_page(browser, base: str, email: str):
    """A separate browser session for a member of staff, logged in through the form."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    log_in(page, base, email)
    expect(page).to_have_url(re.compile(r"/admin/?$"))
    return page


def open_repair(page, base: str, reference: str) -> None:
    """Find the repair in the back office's list by its reference and open its page."""
    page.goto(f"{base}/admin/requests/")
    page.locator("input[name=search]").fill(reference)
    page.locator("input[name=search]").press("Enter")
    page.get_by_role("link", name=reference).click()
    expect(page.locator("#request-heading")).to_contain_text(reference)


def move(page, status_label: str) -> None:
    page.locator("#status-select").select_option(label=status_label)
    page.locator("#status-form").get_by_role("button", name="Move").click()


def flash_error(page):
    return page.locator(".alert-danger, .alert-error").first


def request_and_book(page, base: str) -> str:
    """The customer's part of the morning: request the repair (signing up), book a slot."""
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(base + "/repair/new")
    page.get_by_label("Device type").select_option("phone")
    page.get_by_label("Brand").fill("Samsung")
    page.get_by_label("Model").fill("Galaxy S23")
    page.get_by_label("What is wrong?").fill("Dropped it: the screen is shattered.")
    page.get_by_label("Full name").fill("Robin Reyes")
    page.locator("#email").fill(CUSTOMER)
    page.get_by_label(re.compile("^Choose a password")).fill(CUSTOMER_PASSWORD)
    page.get_by_role("button", name="Send my repair request").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thank you, we have your request")
    reference = page.locator(".reference").inner_text().strip()
    page.get_by_role("link", name="Book a drop-off slot").click()
    page.locator(".slot label").first.click()
    page.get_by_role("button", name="Book this time").click()
    expect(page.locator("#current-status")).to_have_text("Scheduled")
    return reference


def check_in_and_assign(admin, base: str, reference: str) -> None:
    open_repair(admin, base, reference)
    for key in ("power", "cameras", "buttons"):
        admin.locator(f"#intake-{key}").select_option("ok")
    admin.locator("#intake-screen").select_option("faulty")
    admin.get_by_placeholder("Location (e.g. shelf B2)").fill("Shelf B2")
    admin.get_by_role("button", name="Save check-in").click()
    expect(admin.locator(".alert-success")).to_contain_text("Intake checklist saved")
    admin.locator("#technician-select").select_option(label="Theo Tech")
    admin.locator("#assign-form").get_by_role("button", name="Assign").click()
    expect(admin.locator("#request-technician")).to_have_text("Theo Tech")
    move(admin, "In Progress")
    expect(admin.locator("#request-status")).to_have_text("In Progress")


def build_and_send_estimate(tech, base: str, reference: str) -> None:
    open_repair(tech, base, reference)
    part_form = tech.locator("#estimate-part-form")
    screen = part_form.locator("#estimate-part option", has_text="Galaxy S23 screen")
    part_form.locator("#estimate-part").select_option(value=screen.get_attribute("value"))
    part_form.get_by_role("button", name="Add part").click()
    expect(tech.locator(".alert-success")).to_contain_text("Estimate line added")
    tech.locator("#estimate-add summary").click()
    tech.locator("#estimate-labour-description").fill("Screen replacement")
    tech.locator("#estimate-labour-hours").fill("1")
    tech.locator("#estimate-labour-form").get_by_role("button", name="Add labour").click()
    table = tech.locator("#estimate-table")
    expect(table).to_contain_text("Galaxy S23 screen")
    expect(table).to_contain_text("Screen replacement")
    expect(tech.locator("#estimate-subtotal")).to_have_text("$179.00")
    expect(tech.locator("#estimate-tax")).to_have_text("$35.80")
    expect(tech.locator("#estimate-total")).to_have_text("$214.80")
    shot(tech, "estimate-built")
    tech.get_by_role("button", name="Send estimate to the customer ($214.80)").click()
    expect(tech.locator("#estimate-status")).to_contain_text("Sent: waiting for the customer")
    expect(tech.locator("#request-status")).to_have_text("On Hold")


def approve_on_tracking_link(browser, base: str, reference: str):
    """The customer, on another device without logging in, finds the repair and approves."""
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone
    link = context.new_page()
    link.goto(f"{base}/track")
    link.get_by_label("Repair reference").fill(reference)
    link.get_by_label("Email or phone number").fill(CUSTOMER)
    link.get_by_role("button", name="Track my repair").click()
    expect(link).to_have_url(re.compile(r"/track/[A-Za-z0-9_-]+$"))
    lines = link.locator("#estimate-lines")
    expect(lines).to_contain_text("Galaxy S23 screen")
    expect(lines).to_contain_text("Screen replacement")
    expect(link.locator("#estimate-total")).to_have_text("$214.80")
    shot(link, "estimate-on-tracking-link")
    link.get_by_role("button", name="Approve $214.80").click()
    expect(link.locator(".flash-success")).to_contain_text("the estimate is approved")
    expect(link.locator("#current-status")).to_have_text("In Progress")
    return link


def fit_record_and_finish(tech, base: str, reference: str) -> None:
    open_repair(tech, base, reference)
    tech.locator("#parts-table").get_by_role("button", name="Consume").click()
    expect(tech.locator("#parts-table")).to_contain_text("consumed")
    tech.locator("#labour-description").fill("Replaced the screen, resealed the frame")
    tech.locator("#labour-hours").fill("1.5")
    tech.locator("#labour-form").get_by_role("button", name="Record labour").click()
    expect(tech.locator("#labour-list")).to_contain_text("90 min")
    # Recorded labour (1.5 h) replaces the estimated hour: $119 + $90, 20 % tax.
    expect(tech.locator("#charges-total")).to_have_text("$250.80")
    move(tech, "Quality Check")
    move(tech, "Ready for Pickup")
    expect(tech.locator("#request-status")).to_have_text("Ready for Pickup")
    expect(tech.locator("#invoices-list")).to_contain_text("$250.80")
    expect(tech.locator("#bill-balance")).to_have_text("$250.80")


def refused_unpaid(tech) -> None:
    move(tech, "Completed")
    expect(flash_error(tech)).to_contain_text("$250.80 is still due")
    expect(tech.locator("#request-status")).to_have_text("Ready for Pickup")
    shot(tech, "completion-refused")


def invoice_on_tracking_link(link) -> None:
    link.reload()
    expect(link.locator("#documents")).to_contain_text(re.compile(r"Invoice INV-\d{4}-\d{5}"))
    expect(link.locator("#balance-due")).to_have_text("$250.80")
    expect(link.locator("#nothing-to-pay")).to_have_count(0)
    href = link.locator("#documents a").first.get_attribute("href")
    pdf = link.request.get(urljoin(link.url, href))
    assert pdf.status == 200 and pdf.body().startswith(b"%PDF-")
    shot(link, "invoice-on-tracking-link")


def receipt_text(page, href: str) -> str:
    response = page.request.get(urljoin(page.url, href))
    assert response.status == 200, response.status
    return "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(response.body())).pages)


def assert_receipt_lines(text: str) -> None:
    assert "Galaxy S23 screen 1 $119.00 20% $119.00" in text, text
    assert re.search(
        r"Labour: Replaced the screen, resealed the frame\s*\(1\.5 h\)\s*1 \$90\.00 20% \$90\.00",
        text,
    ), text
    assert "Subtotal $209.00" in text and "Tax (20%) $41.80" in text and "Total $250.80" in text
    assert "Amount paid $250.80" in text


def morning(shop, browser, page) -> tuple[str, object, object]:
    base = shop.base_url
    reference = request_and_book(page, base)
    admin = staff_page(browser, base, ADMIN)
    check_in_and_assign(admin, base, reference)
    tech = staff_page(browser, base, TECH)
    build_and_send_estimate(tech, base, reference)
    link = approve_on_tracking_link(browser, base, reference)
    fit_record_and_finish(tech, base, reference)
    invoice_on_tracking_link(link)
    refused_unpaid(tech)
    return reference, admin, tech


def send_webhook(base: str, event: dict) -> None:
    payload = json.dumps(event)
    header = stripe.WebhookSignature.generate_signature_header(
        payload, WEBHOOK_SECRET, timestamp=int(time.time())
    )
    request = urllib.request.Request(
        f"{base}/webhooks/stripe",
        data=payload.encode(),
        headers={"Content-Type": "application/json", "Stripe-Signature": header},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def test_a_repair_billed_and_paid_online(shop, browser, shop_page, stripe_double):
    page, base = shop_page, shop.base_url
    reference, _admin, tech = morning(shop, browser, page)

    # The customer, logged in since signing up, pays on their repair page.
    page.goto(f"{base}/account")
    page.get_by_role("link", name="Samsung Galaxy S23").click()
    expect(page.locator("#balance-due")).to_have_text("$250.80")

    def checkout_page(route):
        session_id = route.request.url.rsplit("/", 1)[-1]
        success = stripe_double.sessions[session_id]["success_url"].replace(
            "{CHECKOUT_SESSION_ID}", session_id
        )
        route.fulfill(
            content_type="text/html",
            body=f"<!doctype html><title>Stripe Checkout (test double)</title>"
            f'<h1>Pay FixMyPhone</h1><a id="paid" href="{success}">Pay</a>',
        )

    page.route("https://checkout.stripe.com/**", checkout_page)
    page.get_by_role("button", name="Pay $250.80").click()
    expect(page.get_by_role("heading", name="Pay FixMyPhone")).to_be_visible()
    session_id = page.url.rsplit("/", 1)[-1]
    session = stripe_double.sessions[session_id]
    assert session["amount_total"] == 25080 and session["currency"] == "usd"

    # Stripe tells the shop, with a signed webhook, before the customer comes back.
    with shop.app_context():
        payment = db.session.scalar(
            sa.select(Payment).where(Payment.stripe_checkout_session_id == session_id)
        )
        payment_id, request_id = payment.id, payment.service_request_id
        db.session.remove()
    send_webhook(
        base,
        {
            "id": "evt_billing_day_1",
            "object": "event",
            "api_version": stripe.api_version,
            "created": int(time.time()),
            "livemode": False,
            "type": "checkout.session.completed",
            "data": {
                "object": {
                    "id": session_id,
                    "object": "checkout.session",
                    "mode": "payment",
                    "status": "complete",
                    "payment_status": "paid",
                    "payment_intent": "pi_billing_day",
                    "amount_total": 25080,
                    "currency": "usd",
                    "metadata": {"payment_id": str(payment_id), "request_id": str(request_id)},
                }
            },
        },
    )
    page.locator("#paid").click()
    expect(page.locator("#payment-status")).to_contain_text("Payment received")
    expect(page.locator("#payment-status")).to_contain_text("$250.80")
    shot(page, "paid-online")
    receipt = page.get_by_role("link", name="Download the receipt (PDF)").get_attribute("href")
    assert_receipt_lines(receipt_text(page, receipt))

    # Paid: the repair completes.
    tech.reload()
    expect(tech.locator("#bill-balance")).to_have_text("$0.00")
    move(tech, "Completed")
    expect(tech.locator("#request-status")).to_have_text("Completed")
    page.goto(f"{base}/account/repairs/{request_id}")
    expect(page.locator("#nothing-to-pay")).to_contain_text("everything is paid")
    expect(page.locator("#current-status")).to_have_text("Completed")
    shot(page, "completed-customer")
    assert not page.problems, page.problems
    with shop.app_context():
        repair = db.session.get(ServiceRequest, request_id)
        assert repair.status == "completed"
        assert [i.total for i in db.session.scalars(sa.select(Invoice))] == [25080]
        db.session.remove()


def test_a_repair_billed_and_paid_in_cash_at_the_counter(shop, browser, shop_page):
    page, base = shop_page, shop.base_url
    reference, admin, _tech = morning(shop, browser, page)

    # The customer comes to pick it up; the admin takes cash at the counter checkout.
    open_repair(admin, base, reference)
    admin.locator("#checkout-link").click()
    expect(admin.locator("#checkout-heading")).to_contain_text(reference)
    expect(admin.locator("#balance-due")).to_have_text("$250.80")
    admin.get_by_label("Cash", exact=True).check()
    admin.get_by_label("Cash handed over").fill("260")
    expect(admin.get_by_label("Complete the repair when paid")).to_be_checked()
    admin.get_by_role("button", name="Take payment").click()
    result = admin.locator("#counter-result")
    expect(result).to_contain_text("Cash: $250.80 received")
    expect(admin.locator("#change-due")).to_have_text("$9.20")
    expect(admin.locator("#completed-note")).to_contain_text("is completed")
    expect(admin.locator("#checkout-status")).to_have_text("Completed")
    shot(admin, "paid-at-counter")
    receipt = (
        admin.locator("#payments-table").get_by_role("link", name="Print").get_attribute("href")
    )
    text = receipt_text(admin, receipt)
    assert_receipt_lines(text)
    assert "Cash handed over $260.00" in text and "Change given $9.20" in text

    # The customer's own page agrees.
    page.goto(f"{base}/account/history")
    page.get_by_role("link", name=reference).click()
    expect(page.locator("#current-status")).to_have_text("Completed")
    expect(page.locator("#nothing-to-pay")).to_contain_text("everything is paid")
    assert not page.problems, page.problems
