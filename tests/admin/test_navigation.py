"""The back office's frame and home page: the user menu (name, role, Log out) for every staff
role, the menu grouped into dropdowns, and the dashboard's sections with their query budget."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from html.parser import HTMLParser
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import (
    Appointment,
    Invoice,
    Payment,
    Refund,
    ServiceRequest,
    StatusChange,
    utcnow,
)
from fixmyphone.services.billing import balances
from tests import factories
from tests.conftest import client_for
from tests.querycount import count_queries

ZONE = "Pacific/Auckland"  # far from UTC: a time shown in UTC, or a UTC "today", shows up
ROLE_LABELS = {"technician": "Technician", "admin": "Admin", "superadmin": "Super admin"}
VOID = {"input", "br", "img", "hr", "meta", "link", "source", "wbr", "col", "area"}


@pytest.fixture
def app_settings():
    return {"SHOP_TIMEZONE": ZONE}


class _Element(HTMLParser):
    """The text and the markup inside the element with a given id."""

    def __init__(self, element_id: str):
        super().__init__(convert_charrefs=True)
        self.element_id, self.depth, self.text, self.markup = element_id, 0, [], []

    def handle_starttag(self, tag, attrs):
        if self.depth:
            self.markup.append(self.get_starttag_text())
            if tag not in VOID:
                self.depth += 1
        elif dict(attrs).get("id") == self.element_id and tag not in VOID:
            self.depth = 1

    def handle_endtag(self, tag):
        if self.depth and tag not in VOID:
            self.depth -= 1
            if self.depth:
                self.markup.append(f"</{tag}>")

    def handle_data(self, data):
        if self.depth:
            self.text.append(data)
            self.markup.append(data)


def element(html: str, element_id: str) -> tuple[str, str]:
    """(text with spaces collapsed, inner markup) of the element with ``element_id``."""
    parser = _Element(element_id)
    parser.feed(html)
    assert parser.markup, f"no element #{element_id}"
    return " ".join("".join(parser.text).split()), "".join(parser.markup)


def staff(role: str, **kwargs):
    if role == "technician":
        return factories.TechnicianFactory(**kwargs)
    return factories.UserFactory(role=role, **kwargs)


# ---------------------------------------------------------------- the user menu and log out


@pytest.mark.parametrize("role", ["technician", "admin", "superadmin"])
def test_user_menu_shows_name_and_role_and_logs_out_with_its_csrf_token(app, role):
    user = staff(role, full_name="Robin Rivera")
    client, _ = client_for(app, user)
    html = client.get("/admin/").get_data(as_text=True)

    text, markup = element(html, "user-menu")
    assert element(html, "user-menu-name")[0] == "Robin Rivera"
    assert element(html, "user-menu-role")[0] == ROLE_LABELS[role]
    assert user.email in text and "Log out" in text
    assert role not in re.sub(r"<[^>]+>", "", markup).split()  # the label, not the stored value
    form = re.search(r'<form method="post" action="(/account/logout)"[^>]*>', markup)
    assert form, markup
    token = re.search(r'name="csrf_token" value="([^"]+)"', markup).group(1)

    # Logging out changes state: without the form's token it is refused, and nothing changes.
    assert client.post("/account/logout").status_code == 400
    assert client.get("/admin/").status_code == 200

    response = client.post("/account/logout", data={"csrf_token": token})
    assert response.status_code == 302
    after = client.get("/admin/")
    assert after.status_code == 302
    assert "/account/login" in after.headers["Location"]


def test_logging_out_by_get_is_not_possible(admin_client):
    assert admin_client.get("/account/logout").status_code == 405
    assert admin_client.get("/admin/").status_code == 200


# ---------------------------------------------------------------- the menu


def _top_level(html: str) -> list[str]:
    """The menu's top-level entries, as read on screen."""
    _text, markup = element(html, "admin-menu")
    entries = re.findall(r'<a class="nav-link[^"]*"[^>]*>(.*?)</a>', markup, re.S)
    return [" ".join(re.sub(r"<[^>]+>", "", e).split()) for e in entries]


def test_menu_groups_pages_so_it_fits_on_one_line(app):
    client, _ = client_for(app, "superadmin")
    html = client.get("/admin/").get_data(as_text=True)
    top = _top_level(html)
    # Related pages share a dropdown; a short list of entries is what keeps it on one line.
    assert top[:2] == ["Dashboard", "Repairs"]
    for grouped in ("Inventory", "Team", "System"):
        assert grouped in top
    assert len(top) <= 11, top
    repairs_menu = element(html, "menu-repairs")  # the toggle
    assert repairs_menu[0] == "Repairs"
    assert 'href="/admin/requests/"' in html and 'href="/admin/inbox/"' in html
    # Dropdown toggles are buttons to assistive tech, and never javascript: links (CSP).
    assert "javascript:" not in html
    assert 'aria-haspopup="true"' in element(html, "admin-menu")[1]


def test_technicians_menu_holds_only_what_they_may_open(app):
    client, _ = client_for(app, "technician")
    html = client.get("/admin/").get_data(as_text=True)
    top = _top_level(html)
    assert "Repairs" in top
    for hidden in ("Team", "System", "Inventory", "Customers", "Reports"):
        assert hidden not in top, top
    assert "/admin/staff/" not in html and "/admin/parts/" not in html


def test_the_current_page_is_marked_in_the_menu(app):
    client, _ = client_for(app, "admin")
    html = client.get("/admin/requests/").get_data(as_text=True)
    _text, markup = element(html, "admin-menu")
    assert re.search(
        r'class="dropdown-item active[^"]*" href="/admin/requests/"\s*aria-current="page"', markup
    )


# ---------------------------------------------------------------- the dashboard


def _local(day_offset: int, hour: int, minute: int) -> datetime:
    """A shop-local wall-clock time today (+ days), as aware UTC."""
    tz = ZoneInfo(ZONE)
    day = datetime.now(tz).date() + timedelta(days=day_offset)
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(ZoneInfo("UTC"))


def _appointment(request: ServiceRequest, start: datetime, technician=None, status="scheduled"):
    appointment = Appointment(
        service_request=request,
        customer_id=request.customer_id,
        technician_id=technician.id if technician else None,
        start=start,
        end=start + timedelta(minutes=30),
        seat=None
        if status == "canceled"
        else 1
        + db.session.scalar(
            sa.select(sa.func.count(Appointment.id)).where(Appointment.start == start)
        ),
        status=status,
    )
    db.session.add(appointment)
    db.session.flush()
    return appointment


def _waiting_since(request: ServiceRequest, moment: datetime) -> None:
    """The request was opened a week before ``moment`` and entered its status at ``moment``."""
    opened = moment - timedelta(days=7)
    request.created_at = opened
    db.session.execute(
        sa.update(StatusChange)
        .where(StatusChange.service_request_id == request.id)
        .values(created_at=opened)
    )
    db.session.add(
        StatusChange(
            service_request_id=request.id,
            from_status="in_progress",
            to_status=request.status,
            created_at=moment,
        )
    )


def _invoice(request: ServiceRequest, total: int, kind: str = "invoice") -> Invoice:
    invoice = Invoice(
        service_request_id=request.id,
        customer_id=request.customer_id,
        kind=kind,
        status="issued",
        currency="usd",
        subtotal=total,
        total=total,
        issued_at=utcnow(),
    )
    db.session.add(invoice)
    return invoice


def _payment(request: ServiceRequest, amount: int, status: str = "succeeded") -> Payment:
    payment = Payment(
        service_request_id=request.id,
        customer_id=request.customer_id,
        method="cash",
        status=status,
        amount=amount,
        currency="usd",
    )
    db.session.add(payment)
    db.session.flush()
    return payment


@pytest.fixture
def shop_day(app):
    """A day at the shop: two technicians' drop-offs, waiting, ready, overdue and unpaid repairs."""
    ann = factories.TechnicianFactory(full_name="Ann Anders")
    zed = factories.TechnicianFactory(full_name="Zed Zimmer")
    now = utcnow()
    r = {}
    r["ann_early"] = factories.ServiceRequestFactory(technician=ann, status="scheduled")
    r["ann_late"] = factories.ServiceRequestFactory(technician=ann, status="scheduled")
    r["zed_drop"] = factories.ServiceRequestFactory(technician=zed, status="scheduled")
    r["nobody_drop"] = factories.ServiceRequestFactory(status="scheduled")
    r["tomorrow"] = factories.ServiceRequestFactory(technician=ann, status="scheduled")
    r["canceled_drop"] = factories.ServiceRequestFactory(technician=ann, status="in_progress")
    _appointment(r["ann_late"], _local(0, 14, 5), ann)
    _appointment(r["ann_early"], _local(0, 9, 30), ann)
    _appointment(r["zed_drop"], _local(0, 11, 15))  # the repair's technician takes it
    _appointment(r["nobody_drop"], _local(0, 12, 0))
    _appointment(r["tomorrow"], _local(1, 10, 0), ann)
    _appointment(r["canceled_drop"], _local(0, 13, 0), ann, status="canceled")

    r["parts_old"] = factories.ServiceRequestFactory(technician=ann, status="awaiting_parts")
    r["hold_new"] = factories.ServiceRequestFactory(technician=zed, status="on_hold")
    r["pending_mid"] = factories.ServiceRequestFactory(status="pending")
    _waiting_since(r["parts_old"], now - timedelta(days=9))
    _waiting_since(r["hold_new"], now - timedelta(hours=5))
    _waiting_since(r["pending_mid"], now - timedelta(days=2))
    r["working"] = factories.ServiceRequestFactory(technician=ann, status="in_progress")

    r["ready"] = factories.ServiceRequestFactory(
        technician=zed, status="ready_for_pickup", ready_at=now - timedelta(days=3)
    )
    r["late"] = factories.ServiceRequestFactory(
        technician=ann, status="in_progress", estimated_completion=now - timedelta(days=4)
    )
    r["late_done"] = factories.ServiceRequestFactory(
        technician=ann, status="completed", estimated_completion=now - timedelta(days=4)
    )
    r["owes"] = factories.ServiceRequestFactory(status="payment_pending")
    _invoice(r["owes"], 12900)
    _payment(r["owes"], 5000)
    _payment(r["owes"], 7900, status="pending")  # not received yet: still owed
    r["refunded"] = factories.ServiceRequestFactory(status="closed")
    _invoice(r["refunded"], 4000)
    payment = _payment(r["refunded"], 4000)
    db.session.add(Refund(payment_id=payment.id, amount=1500, currency="usd", status="succeeded"))
    r["paid"] = factories.ServiceRequestFactory(status="ready_for_pickup")
    _invoice(r["paid"], 7000)
    _payment(r["paid"], 7000)
    r["credited"] = factories.ServiceRequestFactory(status="canceled")
    _invoice(r["credited"], 3000)
    _invoice(r["credited"], 3000, kind="credit_note")
    db.session.commit()
    r["ann"], r["zed"] = ann, zed
    return r


def test_dashboard_shows_todays_drop_offs_by_technician_in_shop_time(app, shop_day):
    client, _ = client_for(app, "admin")
    html = client.get("/admin/").get_data(as_text=True)
    text, markup = element(html, "dash-today")
    assert element(html, "dash-appointments")[0] == "4"
    headings = re.findall(r'data-technician="([^"]+)"', markup)
    assert headings == ["Ann Anders", "Zed Zimmer", "Not assigned"]
    ann_part = text.split("Ann Anders", 1)[1].split("Zed Zimmer", 1)[0]
    assert ann_part.index("09:30") < ann_part.index("14:05")
    assert (
        shop_day["ann_early"].reference in ann_part and shop_day["ann_late"].reference in ann_part
    )
    assert "11:15" in text.split("Zed Zimmer", 1)[1] and "12:00" in text.split("Not assigned")[1]
    assert shop_day["tomorrow"].reference not in text
    assert shop_day["canceled_drop"].reference not in text
    assert not re.search(r"\d\d:\d\d:\d\d", text)  # no seconds
    link = f'href="/admin/requests/view/{shop_day["zed_drop"].id}"'
    assert link in markup


def test_dashboard_lists_waiting_ready_overdue_and_unpaid_with_links(app, shop_day):
    client, _ = client_for(app, "admin")
    html = client.get("/admin/").get_data(as_text=True)
    r = shop_day

    waiting, waiting_markup = element(html, "dash-waiting-list")
    order = [r[k].reference for k in ("parts_old", "pending_mid", "hold_new")]
    assert [waiting.index(ref) for ref in order] == sorted(waiting.index(ref) for ref in order)
    assert "9 days" in waiting and "5 h" in waiting and "Awaiting Parts" in waiting
    assert r["working"].reference not in waiting
    assert element(html, "dash-waiting-count")[0] == "3"
    assert f'href="/admin/requests/view/{r["parts_old"].id}"' in waiting_markup

    ready, _ = element(html, "dash-ready-list")
    assert r["ready"].reference in ready and r["paid"].reference in ready
    assert ready.index(r["ready"].reference) < ready.index(r["paid"].reference)
    assert "ready 3 days" in ready

    overdue, _ = element(html, "dash-overdue-list")
    assert r["late"].reference in overdue and "4 days late" in overdue
    assert r["late_done"].reference not in overdue
    assert element(html, "dash-overdue")[0] == "1"

    unpaid, unpaid_markup = element(html, "dash-unpaid-list")
    assert f"{r['owes'].reference} " in unpaid and "$79.00" in unpaid
    assert r["refunded"].reference in unpaid and "$15.00" in unpaid
    assert r["paid"].reference not in unpaid and r["credited"].reference not in unpaid
    assert element(html, "dash-unpaid-count")[0] == "2"
    assert "$94.00 due in all" in element(html, "dash-unpaid")[0]
    assert f'href="/admin/requests/view/{r["owes"].id}"' in unpaid_markup


def test_unpaid_uses_the_same_balance_rule_as_billing(app, shop_day):
    owing = dict(db.session.execute(balances.balances_due()).all())
    for request in db.session.scalars(sa.select(ServiceRequest)):
        due = balances.balance_due(request)
        assert owing.get(request.id, 0) == max(due, 0), request.reference


def test_technicians_dashboard_is_their_own_day_and_queue(app, shop_day):
    client, _ = client_for(app, shop_day["ann"])
    html = client.get("/admin/").get_data(as_text=True)
    r = shop_day
    today, _ = element(html, "dash-today")
    assert r["ann_early"].reference in today and r["ann_late"].reference in today
    assert r["zed_drop"].reference not in today and r["nobody_drop"].reference not in today
    waiting, _ = element(html, "dash-waiting-list")
    assert r["parts_old"].reference in waiting
    assert r["hold_new"].reference not in waiting and r["pending_mid"].reference not in waiting
    queue, _ = element(html, "my-queue")
    assert r["late"].reference in queue and r["working"].reference in queue
    assert r["late_done"].reference not in queue and r["ready"].reference not in queue
    # Money and the shop's stock are the admins' business.
    assert 'id="dash-unpaid"' not in html and 'id="dash-low-stock"' not in html


def _fill(n: int, tech) -> None:
    """n of each kind of row the dashboard lists."""
    now = utcnow()
    for i in range(n):
        drop = factories.ServiceRequestFactory(technician=tech, status="scheduled")
        _appointment(drop, _local(0, 8 + i % 12, (i * 7) % 60))
        factories.ServiceRequestFactory(technician=tech, status="on_hold")
        factories.ServiceRequestFactory(status="ready_for_pickup", ready_at=now)
        factories.ServiceRequestFactory(
            technician=tech, status="in_progress", estimated_completion=now - timedelta(days=1)
        )
        owes = factories.ServiceRequestFactory(status="payment_pending")
        _invoice(owes, 1000 + i)
        _payment(owes, 500)
        factories.PartFactory(on_hand=0, reorder_level=2)
    db.session.commit()


@pytest.mark.parametrize("role", ["admin", "technician"])
def test_dashboard_query_count_does_not_grow_with_the_shop(app, role):
    tech = factories.TechnicianFactory()
    client, _ = client_for(app, tech if role == "technician" else "admin")
    counts = {}
    for total in (10, 50):
        _fill(10 if total == 10 else 40, tech)  # 10 rows of each kind, then 50
        client.get("/admin/")
        with count_queries() as log:
            response = client.get("/admin/")
        assert response.status_code == 200
        counts[total] = log.count
    assert counts[10] == counts[50], counts
    # Lists show at most 8 rows: a query per listed row would add 8 and break this bound.
    assert counts[50] <= (18 if role == "admin" else 12), counts
    if role == "admin":
        html = response.get_data(as_text=True)
        assert element(html, "dash-unpaid-count")[0] == "50"
        assert element(html, "dash-appointments")[0] == "50"


def test_staff_pages_name_roles_in_peoples_words(app):
    client, boss = client_for(app, "superadmin")
    factories.TechnicianFactory(full_name="Tess Tech")
    db.session.commit()
    listing = client.get("/admin/staff/").get_data(as_text=True)
    cells = re.findall(r'<td class="col-role">\s*(.*?)\s*</td>', listing, re.S)
    assert sorted(cells) == ["Super admin", "Technician"], cells
    form = client.get("/admin/staff/new/").get_data(as_text=True)
    assert re.search(r'<option value="superadmin">Super admin</option>', form)
    assert re.search(r'<option value="technician">Technician</option>', form)
