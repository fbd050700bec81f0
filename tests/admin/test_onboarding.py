"""Staff onboarding: a new staff account gets an unusable password and an invitation e-mail
whose link sets the password once, expires, and dies when the invitation is resent."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from fixmyphone.domain_errors import Conflict, Forbidden
from fixmyphone.extensions import db
from fixmyphone.models import AuditLog, Notification, User
from fixmyphone.services import accounts, delivery, staff
from tests import factories
from tests.conftest import client_for, csrf_token

from .conftest import post_action, post_form


def _user(email: str) -> User:
    return db.session.scalar(sa.select(User).where(User.email == email))


def _invitations(user: User) -> list[Notification]:
    return list(
        db.session.scalars(
            sa.select(Notification)
            .where(Notification.user_id == user.id, Notification.event == "password_reset")
            .order_by(Notification.id)
        )
    )


def _link(row: Notification) -> str:
    """The set-password link in an invitation, as the e-mail carries it when sent."""
    assert "/account/reset/" not in row.body  # stored as a placeholder, made live when sent
    text = delivery.render_text(row)
    return re.search(r"http://shop\.test(/account/reset/\S+)", text).group(1)


def _set_password(client, path: str, password: str = "first-pass-99"):
    token = csrf_token(client, path)
    return client.post(path, data={"password": password, "confirm": password, "csrf_token": token})


def _invite(app, role: str = "technician", email: str = "new@example.com") -> User:
    """A super admin creates a staff account through the back office's form."""
    client, _ = client_for(app, "superadmin")
    url = "/admin/staff/new/"
    response = post_form(client, url, url, full_name="Nina New", email=email, role=role)
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return _user(email)


def test_the_create_form_says_an_invitation_will_be_sent_and_for_how_long(app):
    app.config["PASSWORD_RESET_MAX_AGE"] = 48 * 3600
    client, _ = client_for(app, "superadmin")
    html = client.get("/admin/staff/new/").get_data(as_text=True)
    assert "We'll e-mail them a link to set their password; it expires in 48 hours." in html
    app.config["PASSWORD_RESET_MAX_AGE"] = 3600
    admin_client, _ = client_for(app, "admin")
    html = admin_client.get("/admin/technicians/new/").get_data(as_text=True)
    assert "it expires in 1 hour." in html


def test_a_new_staff_account_has_no_usable_password_and_gets_an_invitation(app):
    nina = _invite(app, role="admin")
    assert nina.role == "admin"
    assert nina.password_hash and not accounts.has_usable_password(nina)
    # Nothing logs in: no password, not the stored value, not an empty one.
    for attempt in ("", nina.password_hash, nina.password_hash[1:], "first-pass-99"):
        assert accounts.authenticate(nina.email, attempt) is None
    client = app.test_client()
    token = csrf_token(client, "/account/login")
    response = client.post(
        "/account/login",
        data={"email": nina.email, "password": nina.password_hash, "csrf_token": token},
    )
    assert response.status_code == 200 and "Wrong email or password" in response.get_data(
        as_text=True
    )

    (row,) = _invitations(nina)
    assert row.channel == "email" and row.recipient == "new@example.com"
    assert row.subject.startswith("Set your password")
    text = delivery.render_text(row)
    assert "opened a back-office account for you (Admin)" in text
    assert "The link works once, for 1 hour(s)." in text
    assert _link(row).startswith("/account/reset/")


def test_the_invitation_link_sets_the_password_once(app):
    nina = _invite(app)
    path = _link(_invitations(nina)[0])
    client = app.test_client()
    page = client.get(path)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Welcome, Nina" in html and "back office" in html and "Set my password" in html

    response = _set_password(client, path)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/account/login")
    db.session.expire_all()
    assert accounts.has_usable_password(nina)
    assert accounts.authenticate(nina.email, "first-pass-99") == nina
    client_for(app, nina, password="first-pass-99")

    # Single use: the same link now sends the person to ask for a new one.
    again = client.get(path)
    assert again.status_code == 302 and again.headers["Location"].endswith("/account/forgot")
    token = csrf_token(client, "/account/login")
    replay = client.post(
        path,
        data={"password": "second-pass-99", "confirm": "second-pass-99", "csrf_token": token},
    )
    assert replay.status_code == 302 and replay.headers["Location"].endswith("/account/forgot")
    db.session.expire_all()
    assert accounts.authenticate(nina.email, "first-pass-99") == nina


def test_an_expired_invitation_link_is_refused(app):
    nina = _invite(app)
    path = _link(_invitations(nina)[0])
    client = app.test_client()
    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    response = client.get(path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/forgot")
    app.config["PASSWORD_RESET_MAX_AGE"] = 3600
    assert client.get(path).status_code == 200  # the same link, within its lifetime


def test_an_expired_link_sets_nothing(app):
    nina = _invite(app)
    path = _link(_invitations(nina)[0])
    client = app.test_client()
    token = csrf_token(client, path)
    app.config["PASSWORD_RESET_MAX_AGE"] = -1
    response = client.post(
        path, data={"password": "late-pass-99", "confirm": "late-pass-99", "csrf_token": token}
    )
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/forgot")
    db.session.expire_all()
    assert not accounts.has_usable_password(nina)
    assert accounts.authenticate(nina.email, "late-pass-99") is None


def test_resending_the_invitation_retires_the_old_link(app):
    client, boss = client_for(app, "superadmin")
    url = "/admin/staff/new/"
    post_form(client, url, url, full_name="Nina New", email="new@example.com", role="technician")
    nina = _user("new@example.com")
    old_path = _link(_invitations(nina)[0])
    old_hash = nina.password_hash

    response = post_action(client, "/admin/staff/", "resend_invitation", [nina.id])
    assert response.status_code == 302
    db.session.expire_all()
    first, second = _invitations(nina)
    assert nina.password_hash != old_hash and not accounts.has_usable_password(nina)
    assert db.session.scalar(
        sa.select(AuditLog).where(
            AuditLog.action == "invitation_sent", AuditLog.object_id == str(nina.id)
        )
    )
    listing = client.get("/admin/staff/").get_data(as_text=True)
    assert "Invitation sent: 1 of 1" in listing
    assert "Not yet: invited, no password set" in listing

    browser = app.test_client()
    refused = browser.get(old_path)
    assert refused.status_code == 302 and refused.headers["Location"].endswith("/account/forgot")
    new_path = _link(second)
    assert new_path != old_path
    assert _set_password(browser, new_path).status_code == 302
    db.session.expire_all()
    assert accounts.authenticate(nina.email, "first-pass-99") == nina


def test_an_admin_resends_technicians_invitations_but_no_one_elses(app):
    client, admin = client_for(app, "admin")
    url = "/admin/technicians/new/"
    post_form(client, url, url, full_name="Tia Tech", email="tia@example.com", role="technician")
    tia = _user("tia@example.com")
    assert len(_invitations(tia)) == 1
    other_admin = factories.UserFactory(role="admin")
    owner = factories.UserFactory(role="superadmin")
    accounts.set_unusable_password(other_admin)
    accounts.set_unusable_password(owner)
    db.session.commit()

    post_action(client, "/admin/technicians/", "resend_invitation", [tia.id])
    assert len(_invitations(tia)) == 2
    # Admins' and super admins' rows are outside the technicians list: skipped as unknown.
    post_action(client, "/admin/technicians/", "resend_invitation", [other_admin.id, owner.id])
    assert _invitations(other_admin) == [] and _invitations(owner) == []
    # The super admins' list is not theirs at all.
    response = post_action(client, "/admin/staff/", "resend_invitation", [other_admin.id])
    assert response.status_code == 403
    # And the service says no whatever the page.
    for target in (other_admin, owner):
        with pytest.raises(Forbidden):
            staff.resend_invitation(admin, target)
    assert _invitations(other_admin) == [] and _invitations(owner) == []


def test_resending_never_locks_out_someone_who_has_a_password(app):
    client, _ = client_for(app, "superadmin")
    tech = factories.TechnicianFactory()
    db.session.commit()
    before = tech.password_hash
    post_action(client, "/admin/staff/", "resend_invitation", [tech.id])
    db.session.expire_all()
    assert tech.password_hash == before and _invitations(tech) == []
    assert "already set a password" in client.get("/admin/staff/").get_data(as_text=True)
    client_for(app, tech)


def test_no_invitation_for_a_deactivated_account(app):
    nina = _invite(app)
    path = _link(_invitations(nina)[0])
    boss = factories.UserFactory(role="superadmin")
    accounts.deactivate(nina, boss)
    db.session.commit()
    with pytest.raises(Conflict, match="deactivated"):
        staff.resend_invitation(boss, nina)
    response = app.test_client().get(path)
    assert response.status_code == 302 and response.headers["Location"].endswith("/account/forgot")


@pytest.mark.parametrize("role", ["anonymous", "customer", "technician"])
def test_customers_and_technicians_cannot_send_invitations(app, role):
    tech = factories.TechnicianFactory()
    accounts.set_unusable_password(tech)
    db.session.commit()
    client, user = client_for(app, role)
    for list_url in ("/admin/staff/", "/admin/technicians/"):
        response = client.post(
            list_url + "action/",
            data={"action": "resend_invitation", "rowid": [str(tech.id)], "url": list_url},
        )
        assert response.status_code in (302, 400, 403)
        if role == "anonymous" and response.status_code == 302:
            assert "/account/login" in response.headers["Location"]
    assert _invitations(tech) == []
    if user is not None:
        with pytest.raises(Forbidden):
            staff.resend_invitation(user, tech)
    assert _invitations(tech) == []


def test_a_customer_cannot_be_sent_a_staff_invitation(app):
    client, boss = client_for(app, "superadmin")
    walk_in = factories.CustomerFactory(password_hash=None)
    db.session.commit()
    post_action(client, "/admin/staff/", "resend_invitation", [walk_in.id])
    with pytest.raises(Forbidden):
        staff.resend_invitation(boss, walk_in)
    assert _invitations(walk_in) == []
