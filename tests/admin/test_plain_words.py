"""Plain words on every back-office page: no machine values, minor units or seconds.

As an admin, a super admin and a technician, every registered back-office view is opened
(list, details, edit and create of each model view; each custom page) on a world holding a row
of each kind, and the visible text (tags, option values and hidden inputs stripped) may not
show a bare enum value where a label belongs, "minor units", or a time with seconds.
"""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta

import pytest
import sqlalchemy as sa
from flask_admin.contrib.sqla import ModelView

from fixmyphone import labels
from fixmyphone.extensions import db
from fixmyphone.models import (
    Appointment,
    AuditLog,
    Notification,
    Payment,
    ServiceRequest,
    Shift,
    StockMovement,
)
from tests import factories
from tests.conftest import client_for

RAW_VALUES = (
    "bank_transfer",
    "card_terminal",
    "in_progress",
    "on_hold",
    "ready_for_pickup",
    "needs_review",
    "superadmin",
    "awaiting_parts",
    "payment_pending",
    "quality_check",
    "credit_note",
    "in_app",
)
SECONDS = re.compile(r"\b\d{1,2}:\d{2}:\d{2}\b")
_SKIP = re.compile(r"<(script|style|template)\b.*?</\1>", re.S | re.I)
# Flask-Admin's filter data for its script (value/label pairs; the labels are what shows).
_DATA = re.compile(r"<div id=\"(?:filter-groups|active-filters)-data\"[^>]*>.*?</div>", re.S)
_HIDDEN = re.compile(r"<input[^>]*type=[\"']?hidden[^>]*>", re.I)
_TAG = re.compile(r"<[^>]+>")
_SEARCH_BOX = re.compile(r"<input[^>]*name=\"search\"[^>]*>", re.S)
_PLACEHOLDER = re.compile(r"placeholder=\"([^\"]*)\"")


def visible_text(page: str) -> str:
    """What a person reads: no scripts, hidden inputs, tags or attribute values."""
    page = _SKIP.sub(" ", page)
    page = _DATA.sub(" ", page)
    page = _HIDDEN.sub(" ", page)
    page = _TAG.sub(" ", page)
    return html.unescape(page)


def problems_in(text: str) -> list[str]:
    found = []
    if "minor units" in text:
        found.append("'minor units'")
    for raw in RAW_VALUES:
        if re.search(rf"(?<![\w/.-]){raw}(?![\w/.-])", text):
            found.append(repr(raw))
    found.extend(repr(m) for m in SECONDS.findall(text))
    return found


def test_label_words_and_fallback(app):
    assert labels.label(labels.PAYMENT_METHOD, "bank_transfer") == "Bank transfer"
    assert labels.label(labels.PAYMENT_METHOD, "card_terminal") == "Card terminal"
    assert labels.label(labels.PAYMENT_STATE, "needs_review") == "Needs review"
    assert labels.label(labels.STATUS, "on_hold") == "On Hold"
    assert labels.label(labels.ROLE, "superadmin") == "Super admin"
    assert labels.label(labels.MOVEMENT, "consume") == "Used in a repair"
    assert labels.label(labels.CHANNEL, "in_app") == "In the app"
    assert labels.label(labels.STATUS, "brand_new_state") == "Brand new state"
    assert labels.label(labels.INVOICE_KIND, "credit_note") == "Credit note"
    assert labels.label("no_such_kind", "some_value") == "Some value"
    assert labels.label(labels.STATUS, None) == "—"


def test_label_filter_in_templates(app):
    with app.test_request_context():
        rendered = app.jinja_env.from_string(
            "{{ 'bank_transfer'|label('payment_method') }}/{{ 'on_hold'|label('status') }}"
        ).render()
    assert rendered == "Bank transfer/On Hold"


@pytest.fixture
def world(app):
    """A row of each kind a back-office page lists, in the values that read worst raw."""
    tech = factories.TechnicianFactory()
    factories.UserFactory(role="superadmin")
    repairs = [
        factories.ServiceRequestFactory(technician=tech, status=status)
        for status in ("pending", "in_progress", "awaiting_parts", "payment_pending", "on_hold")
    ]
    factories.ServiceRequestFactory(technician=tech, status="ready_for_pickup")
    held = repairs[-1]
    part = factories.PartFactory()
    db.session.flush()
    for method, status in (
        ("card_terminal", "succeeded"),
        ("bank_transfer", "pending"),
        ("bank_transfer", "needs_review"),
    ):
        db.session.add(
            Payment(
                service_request_id=held.id,
                customer_id=held.customer_id,
                method=method,
                status=status,
                amount=7900,
                currency="usd",
            )
        )
    for kind, quantity in (("receive", 5), ("reserve", 1), ("consume", 1)):
        db.session.add(
            StockMovement(
                part_id=part.id,
                service_request_id=held.id,
                kind=kind,
                quantity=quantity,
                on_hand_after=5,
                reserved_after=0,
            )
        )
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    db.session.add(
        Appointment(
            service_request_id=held.id,
            customer_id=held.customer_id,
            technician_id=tech.id,
            start=start,
            end=start + timedelta(minutes=30),
        )
    )
    db.session.add(
        Notification(
            user_id=held.customer_id,
            service_request_id=held.id,
            event="status_changed",
            channel="in_app",
            subject="Your repair is on hold",
            body="On hold",
            status="failed",
            dedup_key="plain-words-1",
        )
    )
    db.session.add(
        Shift(
            technician_id=tech.id,
            weekday=1,
            starts_at=time(9),
            ends_at=time(17, 30),
        )
    )
    db.session.add(
        AuditLog(
            action="payment.recorded",
            object_type="Payment",
            object_id="1",
            before={"status": "pending", "method": "bank_transfer"},
            after={"status": "needs_review", "role": "superadmin"},
        )
    )
    db.session.commit()
    return tech


def _urls(app) -> list[str]:
    urls = []
    views = [v for admin in app.extensions["admin"] for v in admin._views]  # noqa: SLF001
    for view in views:
        base = view.url.rstrip("/") + "/"
        urls.append(base)
        if isinstance(view, ModelView):
            first = db.session.scalars(
                sa.select(view.model).order_by(view.model.id.desc()).limit(1)
            ).first()
            if first is not None:
                urls.append(f"{base}details/?id={first.id}")
                if view.can_edit:
                    urls.append(f"{base}edit/?id={first.id}")
            if view.can_create:
                urls.append(f"{base}new/")
    held = db.session.scalars(
        sa.select(ServiceRequest).where(ServiceRequest.status == "on_hold").limit(1)
    ).first()
    urls += [
        f"/admin/requests/view/{held.id}",
        "/admin/appointments/calendar",
        "/admin/appointments/calendar?span=day",
        "/admin/parts/low-stock",
        "/admin/parts/import",
    ]
    return urls


@pytest.mark.parametrize("role", ("admin", "superadmin", "technician"))
def test_every_back_office_page_in_plain_words(app, world, role):
    client, user = client_for(app, world if role == "technician" else role)
    problems = []
    opened = 0
    for url in _urls(app):
        response = client.get(url)
        if response.status_code in (403, 404) or response.mimetype != "text/html":
            continue
        assert response.status_code in (200, 302), f"{url}: {response.status_code}"
        if response.status_code != 200:
            continue
        opened += 1
        page = response.get_data(as_text=True)
        found = problems_in(visible_text(page))
        for box in _SEARCH_BOX.findall(page):
            hint = html.unescape((_PLACEHOLDER.findall(box) or [""])[0])
            if "." in hint or "_" in hint or not hint.startswith(("Search", "Repair", "Part")):
                found.append(f"search hint {hint!r}")
        if found:
            problems.append(f"{url}: {', '.join(sorted(set(found)))}")
    assert opened >= (3 if role == "technician" else 15)
    assert not problems, "\n".join(problems)
