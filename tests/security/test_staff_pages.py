"""No staff screen shows a secret: walk every back-office page as an admin and as a super admin.

The pages come from the app, not a list: every GET rule under /admin/ that needs no argument,
every model view's list, details and edit page for every row, each CSV export, and every
back-office page taking an id for each object the matrix knows. None may contain a password
hash (or its ``scrypt:``/``pbkdf2:`` prefix), a tracking token, a live reset link, a refresh
token's hash, an encrypted passcode or the session counter's column.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from werkzeug.routing import IntegerConverter

from fixmyphone import models
from fixmyphone.extensions import db
from fixmyphone.services import accounts, passcodes, tokens

from .. import factories
from ..conftest import client_for, csrf_token
from .endpoints import SKIP_METHODS, model_views
from .world import ARG_TARGETS, World

HASH_PREFIXES = ("scrypt:", "pbkdf2:")
RESET_LINK = re.compile(r"/account/reset/([A-Za-z0-9_\-.]+)")
# Column titles of secrets as Flask-Admin would print them.
SECRET_TITLES = ("Password Hash", "Tracking Token", "Passcode Encrypted", "Session Version")


def _secrets_world(app) -> World:
    """A shop with every kind of secret stored: real password hashes of both kinds, tracking
    tokens, refresh tokens, an encrypted passcode, reset links in the outbox (also failed)."""
    world = World()
    owner = world.users["superadmin"]
    with_scrypt = factories.UserFactory(role="technician", full_name="Scott Crypt")
    with_scrypt.set_password("a long scrypt password", method="scrypt")
    for user in world.users.values():
        tokens.start_session(user)
    repair = world.repair()
    passcodes.set_passcode(repair, "482913", world.users["admin"])
    world.appointment(repair)
    world.payment(repair)
    world.invoice(repair)
    world.shift()
    world.time_off()
    world.stock_movement()
    db.session.commit()
    # The attack of row 1: someone asks for the owner's reset link, and the e-mail fails.
    anonymous = app.test_client()
    token = csrf_token(anonymous, "/account/forgot")
    anonymous.post("/account/forgot", data={"email": owner.email, "csrf_token": token})
    with app.test_request_context():
        accounts.send_password_reset(world.users["tech_assigned"], welcome=True)
    db.session.flush()
    for row in db.session.scalars(sa.select(models.Notification)):
        row.status, row.last_error = "failed", "550 mailbox unavailable"
    db.session.commit()
    return world


def _pages(app, world: World) -> list[str]:
    """Every back-office page to open (GET), found in the app."""
    pages = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/admin/") or "GET" not in rule.methods - SKIP_METHODS:
            continue
        if rule.endpoint.endswith(".static") or rule.endpoint.endswith(".ajax_lookup"):
            continue
        converters = rule._converters  # noqa: SLF001
        if not converters:
            pages.add(rule.rule)
        elif set(converters) == {"export_type"}:
            pages.add(rule.rule.replace("<export_type>", "csv"))
        elif all(isinstance(c, IntegerConverter) for c in converters) and all(
            name in ARG_TARGETS for name in converters
        ):
            made: dict = {}
            values = {}
            for name in converters:
                obj = ARG_TARGETS[name][2](world, made)
                db.session.flush()
                if name == "request_id":
                    made[name] = obj
                values[name] = obj.id
            pages.add(app.url_map.bind("shop.test").build(rule.endpoint, values))
    db.session.commit()
    for view in model_views(app):
        pages.add(view.url + "/?page_size=100")
        pk = sa.inspect(view.model).primary_key[0]
        for key in db.session.scalars(sa.select(pk)):
            if view.can_view_details:
                pages.add(f"{view.url}/details/?id={key}")
            if view.can_edit:
                pages.add(f"{view.url}/edit/?id={key}")
    return sorted(pages)


def _secrets() -> dict[str, str]:
    """Each stored secret value -> what it is."""
    found = {}
    for user in db.session.scalars(sa.select(models.User)):
        if user.password_hash:
            found[user.password_hash] = f"password hash of {user.email}"
    for repair in db.session.scalars(sa.select(models.ServiceRequest)):
        found[repair.tracking_token] = f"tracking token of {repair.reference}"
        if repair.passcode_encrypted:
            found[repair.passcode_encrypted] = f"encrypted passcode of {repair.reference}"
            found["482913"] = "a passcode in clear"
    for row in db.session.scalars(sa.select(models.RefreshToken)):
        found[row.token_hash] = "a refresh token's hash"
        found[row.family_id] = "a refresh token family"
    return found


@pytest.mark.parametrize("role", ["admin", "superadmin"])
def test_no_staff_page_shows_a_secret(app, role):
    world = _secrets_world(app)
    client, _ = client_for(app, world.users[role])
    pages = _pages(app, world)
    secrets = _secrets()
    assert len(secrets) > 10
    problems, opened = [], 0
    for page in pages:
        response = client.get(page)
        text = response.get_data(as_text=True)
        if response.status_code >= 500:
            problems.append(f"{page}: {response.status_code}")
        if response.status_code != 200:
            continue
        opened += 1
        for prefix in HASH_PREFIXES:
            if prefix in text:
                problems.append(f"{page}: shows a password hash ({prefix}…)")
        for title in SECRET_TITLES:
            if title in text:
                problems.append(f"{page}: has a '{title}' column")
        for value, what in secrets.items():
            if value in text:
                problems.append(f"{page}: shows the {what}")
        for token in RESET_LINK.findall(text):
            if accounts.user_for_reset_token(token) is not None:
                problems.append(f"{page}: shows a live reset link")
    # The walk saw the pages that matter (the technicians', staff and notification details).
    assert opened > 40, opened
    assert not problems, "\n".join(sorted(set(problems)))


def test_technician_details_of_a_super_admin_is_404_and_of_a_technician_has_no_hash(app):
    """Row 2 of the security report, by hand."""
    world = _secrets_world(app)
    client, _ = client_for(app, world.users["admin"])
    owner = world.users["superadmin"]
    assert client.get(f"/admin/technicians/details/?id={owner.id}").status_code == 404
    tech = world.users["tech_assigned"]
    page = client.get(f"/admin/technicians/details/?id={tech.id}")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert tech.email in text
    assert "pbkdf2:" not in text and "Password Hash" not in text
