"""The back office's one scope, by hand: the attacks of the security report and the pieces of
the secured base (the generated matrix in tests/security covers every endpoint)."""

from __future__ import annotations

import csv
import io

import pytest
import sqlalchemy as sa
from flask_login import login_user

from fixmyphone.admin.base import ScopedAjaxLoader, SecuredModelView, is_secret, parse_id
from fixmyphone.domain_errors import Forbidden
from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Notification, ServiceRequest, User
from fixmyphone.services import staff
from tests import factories
from tests.conftest import client_for

from .conftest import post_action, post_form


def test_admin_cannot_edit_the_super_admin_through_the_customers_view(app):
    """Row 3: POST /admin/customers/edit/?id=<super admin> changed the owner's name."""
    client, _ = client_for(app, "admin")
    owner = factories.UserFactory(role="superadmin", full_name="Sue Owner")
    db.session.commit()
    url = f"/admin/customers/edit/?id={owner.id}"
    assert client.get(url).status_code == 404
    response = post_form(
        client, "/admin/customers/new/", url, full_name="Mallory", phone="+44 20 7946 0000"
    )
    assert response.status_code == 404
    db.session.expire_all()
    assert owner.full_name == "Sue Owner"
    assert owner.customer_profile is None


def test_a_customer_is_still_edited_through_the_customers_view(app):
    client, _ = client_for(app, "admin")
    customer = factories.CustomerFactory(full_name="Carla Client")
    db.session.commit()
    url = f"/admin/customers/edit/?id={customer.id}"
    response = post_form(client, url, url, full_name="Carla Cliente", phone="+44 20 7946 0001")
    assert response.status_code == 302
    db.session.expire_all()
    assert customer.full_name == "Carla Cliente"
    assert customer.customer_profile.phone == "+44 20 7946 0001"


@pytest.mark.parametrize("bad", ["abc", "99999999999999999999", "-1", "0", "1.5", "١"])
def test_ids_that_name_nothing_are_404_not_500(app, bad):
    client, _ = client_for(app, "superadmin")
    for url in (f"/admin/staff/edit/?id={bad}", f"/admin/technicians/details/?id={bad}"):
        assert client.get(url).status_code == 404, url


def test_an_action_on_a_row_outside_the_view_is_404_and_does_nothing(app):
    """Deactivating or resetting the owner from the customers or technicians list."""
    client, _ = client_for(app, "admin")
    owner = factories.UserFactory(role="superadmin")
    db.session.commit()
    for view in ("/admin/customers/", "/admin/technicians/"):
        for action in ("deactivate", "reset_password"):
            assert post_action(client, view, action, [owner.id]).status_code == 404
    db.session.expire_all()
    assert owner.active
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == 0


def test_technician_export_holds_only_assigned_repairs(app):
    client, tech = client_for(app, "technician")
    mine = factories.ServiceRequestFactory(technician=tech)
    others = factories.ServiceRequestFactory(technician=factories.TechnicianFactory())
    db.session.commit()
    body = client.get("/admin/requests/export/csv/").get_data(as_text=True)
    references = [row[0] for row in csv.reader(io.StringIO(body))][1:]
    assert references == [mine.reference]
    assert others.reference not in body


def test_secret_columns_are_recognised():
    for name in (
        "password_hash",
        "tracking_token",
        "passcode_encrypted",
        "session_version",
        "token_hash",
        "customer.password_hash",
        "stripe_client_secret",
        "jti",
    ):
        assert is_secret(name), name
    for name in ("full_name", "email", "reference", "status", "tokens_used_count"):
        assert not is_secret(name), name


def test_a_view_listing_a_secret_does_not_show_it_and_cannot_search_it(app):
    class Careless(SecuredModelView):
        column_list = ("email", "password_hash", "session_version")
        column_details_list = ("email", "password_hash")
        column_export_list = ("email", "password_hash")

    view = Careless(User, endpoint="careless_test")
    assert [c for c, _ in view.get_list_columns()] == ["email"]
    assert [c for c, _ in view.get_details_columns()] == ["email"]
    assert [c for c, _ in view.get_export_columns()] == ["email"]
    form_fields = {f.name for f in view.get_form()()}
    assert not {n for n in form_fields if is_secret(n)}

    class Oracle(SecuredModelView):
        column_searchable_list = ("email", "password_hash")

    with pytest.raises(ValueError, match="password_hash"):
        Oracle(User, endpoint="oracle_test")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("12", 12), (12, 12), ("0", None), ("abc", None), ("2147483648", None), (True, None)],
)
def test_parse_id(raw, expected):
    assert parse_id(raw) == expected


def test_ajax_lookups_offer_only_the_viewers_repairs(app):
    tech = factories.TechnicianFactory()
    mine = factories.ServiceRequestFactory(technician=tech, brand="Pixel")
    theirs = factories.ServiceRequestFactory(brand="Pixel")
    db.session.commit()
    loader = ScopedAjaxLoader("repair", db, ServiceRequest, fields=["brand"])
    with app.test_request_context():
        login_user(tech)
        assert [r.id for r in loader.get_list("Pixel")] == [mine.id]
        assert loader.get_one(str(mine.id)) is not None
        assert loader.get_one(str(theirs.id)) is None
        assert loader.get_one("not-a-number") is None
    with pytest.raises(ValueError):
        ScopedAjaxLoader("user", db, User, fields=["password_hash"])


# -- who may change which account (services/staff.may_manage)


@pytest.fixture
def people(app):
    tech = factories.TechnicianFactory()
    served = factories.CustomerFactory()
    factories.ServiceRequestFactory(customer=served, technician=tech)
    people = {
        "owner": factories.UserFactory(role="superadmin"),
        "owner2": factories.UserFactory(role="superadmin"),
        "admin": factories.UserFactory(role="admin"),
        "admin2": factories.UserFactory(role="admin"),
        "tech": tech,
        "tech2": factories.TechnicianFactory(),
        "served": served,
        "stranger": factories.CustomerFactory(),
    }
    db.session.commit()
    return people


# actor -> the accounts they may manage (everyone manages their own)
MAY_MANAGE = {
    "owner": {"owner", "owner2", "admin", "admin2", "tech", "tech2", "served", "stranger"},
    "admin": {"admin", "tech", "tech2", "served", "stranger"},
    "tech": {"tech", "served"},
    "served": {"served"},
}


@pytest.mark.parametrize("actor", sorted(MAY_MANAGE))
def test_may_manage(people, actor):
    for target, user in people.items():
        assert staff.may_manage(people[actor], user) == (target in MAY_MANAGE[actor]), target


def test_nobody_but_a_super_admin_changes_a_super_admin(app, people):
    owner, admin = people["owner"], people["admin"]
    for change in (
        lambda: staff.send_password_reset(admin, owner),
        lambda: staff.deactivate_account(admin, owner),
        lambda: staff.change_role(admin, owner, "technician"),
        lambda: staff.update_staff(admin, owner, full_name="X", email="x@example.com"),
    ):
        with pytest.raises(Forbidden, match="super admin"):
            change()
    admin.active = False
    assert not staff.may_manage(admin, people["tech"])
    with app.test_request_context():  # the reset link is a URL
        staff.send_password_reset(people["owner2"], owner)
    assert db.session.scalar(sa.select(AuditLog.id).where(AuditLog.action == "password_reset_sent"))
