"""The access matrix: every back-office URL for every role."""

from __future__ import annotations

import pytest

from fixmyphone.extensions import db
from tests import factories
from tests.conftest import client_for

from .conftest import ROLES

# url template -> the lowest role that may open it
URLS = {
    "/admin/": "technician",
    "/admin/requests/": "technician",
    "/admin/requests/view/{own}": "technician",
    "/admin/requests/view/{own}/ticket.pdf": "technician",
    "/admin/inbox/": "technician",
    "/admin/appointments/": "admin",
    "/admin/appointments/calendar": "admin",
    "/admin/appointments/calendar?span=day": "admin",
    "/admin/customers/": "admin",
    "/admin/customers/new/": "admin",
    "/admin/customers/edit/?id={customer}": "admin",
    "/admin/customers/view/{customer}": "admin",
    "/admin/payments/": "admin",
    "/admin/parts/": "admin",
    "/admin/parts/new/": "admin",
    "/admin/parts/edit/?id={part}": "admin",
    "/admin/parts/low-stock": "admin",
    "/admin/parts/export.csv": "admin",
    "/admin/parts/import": "admin",
    "/admin/parts/export/csv/": "admin",
    "/admin/stock/": "admin",
    "/admin/technicians/": "admin",
    "/admin/technicians/new/": "admin",
    "/admin/technicians/edit/?id={tech}": "admin",
    "/admin/shifts/": "admin",
    "/admin/shifts/new/": "admin",
    "/admin/timeoff/": "admin",
    "/admin/timeoff/new/": "admin",
    "/admin/workload/": "admin",
    "/admin/reports/": "admin",
    "/admin/reports/revenue.csv": "admin",
    "/admin/notifications/": "admin",
    "/admin/staff/": "superadmin",
    "/admin/staff/new/": "superadmin",
    "/admin/audit/": "superadmin",
    "/admin/audit/export/csv/": "superadmin",
}
RANK = {"anonymous": 0, "customer": 1, "technician": 2, "admin": 3, "superadmin": 4}


@pytest.mark.parametrize("role", ROLES)
def test_every_admin_url_for_every_role(app, role):
    client, user = client_for(app, role)
    tech = user if role == "technician" else factories.TechnicianFactory()
    own = factories.ServiceRequestFactory(technician=tech)
    part = factories.PartFactory()
    customer = factories.CustomerFactory()
    db.session.commit()
    ids = {"own": own.id, "customer": customer.id, "part": part.id, "tech": tech.id}
    problems = []
    for template, lowest in URLS.items():
        url = template.format(**ids)
        response = client.get(url)
        response.get_data()  # consume streamed bodies (CSV export) inside the request
        if role == "anonymous":
            expected = 302
        elif RANK[role] >= RANK[lowest]:
            expected = 200
        else:
            expected = 403
        if response.status_code != expected:
            problems.append(f"{url}: {response.status_code} (expected {expected})")
        elif expected == 302:
            location = response.headers["Location"]
            if "/account/login" not in location or "next=" not in location:
                problems.append(f"{url}: redirected to {location}")
    assert not problems, "\n".join(problems)


def test_technician_sees_only_assigned_requests(app):
    client, tech = client_for(app, "technician")
    mine = factories.ServiceRequestFactory(technician=tech, brand="Mine")
    other = factories.ServiceRequestFactory(brand="Other")
    db.session.commit()
    listing = client.get("/admin/requests/").get_data(as_text=True)
    assert mine.reference in listing
    assert other.reference not in listing
    assert client.get(f"/admin/requests/view/{other.id}").status_code == 404
    assert client.get(f"/admin/requests/view/{mine.id}").status_code == 200
    home = client.get("/admin/").get_data(as_text=True)
    assert mine.reference in home and other.reference not in home


def test_deactivated_admin_is_logged_out(app):
    from fixmyphone.services import accounts

    client, admin = client_for(app, "admin")
    assert client.get("/admin/parts/").status_code == 200
    accounts.deactivate(admin, None)
    db.session.commit()
    response = client.get("/admin/parts/")
    assert response.status_code == 302
    assert "/account/login" in response.headers["Location"]


def test_menu_hides_views_the_role_cannot_open(app):
    client, _ = client_for(app, "admin")
    html = client.get("/admin/").get_data(as_text=True)
    assert "/admin/parts/" in html
    assert "/admin/audit/" not in html
    assert "/admin/staff/" not in html


POSTS = {
    "/admin/requests/action/": "technician",
    "/admin/requests/view/{own}/status": "technician",
    "/admin/requests/view/{own}/message": "technician",
    "/admin/parts/action/": "admin",
    "/admin/parts/import": "admin",
    "/admin/appointments/add": "admin",
    "/admin/customers/new/": "admin",
    "/admin/payments/action/": "admin",
    "/admin/notifications/action/": "admin",
    "/admin/staff/new/": "superadmin",
    "/admin/staff/action/": "superadmin",
}


@pytest.mark.parametrize("role", ROLES)
def test_form_posts_are_refused_below_their_role(app, role):
    """POSTs are checked like pages: an under-privileged POST changes nothing."""
    from tests.conftest import csrf_token

    client, user = client_for(app, role)
    tech = user if role == "technician" else factories.TechnicianFactory()
    own = factories.ServiceRequestFactory(technician=tech)
    db.session.commit()
    token_page = {"anonymous": "/account/login", "customer": "/"}.get(role, "/admin/requests/")
    token = csrf_token(client, token_page)
    problems = []
    for template, lowest in POSTS.items():
        url = template.format(own=own.id)
        response = client.post(url, data={"csrf_token": token})
        if role == "anonymous":
            ok = response.status_code == 302 and "/account/login" in response.headers["Location"]
        elif RANK[role] >= RANK[lowest]:
            ok = response.status_code in (200, 302)
        else:
            ok = response.status_code == 403
        if not ok:
            problems.append(f"POST {url}: {response.status_code}")
    assert not problems, "\n".join(problems)
