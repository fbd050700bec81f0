"""The access matrix, generated: every id-taking endpoint × every role × objects inside and
outside that role's scope.

Endpoints come from ``app.url_map`` and Flask-Admin's registered views (endpoints.py); the
objects and who may see them from world.py. For each role the expected answer is:

- anonymous: the login page (302) on the site and the back office, 401 on the API;
- a role below a back-office view's level: 403 (customers everywhere in the back office);
- an object outside the role's scope, or outside what the view lists: 404, and nothing in the
  database changes;
- otherwise the object is reached (2xx, a redirect that is not the login page, or the shop
  refusing the request itself: 409, 422), unless the role may see the object but not do this
  (ROLE_FORBIDDEN: 403).

A new route or view is covered without editing this file; one whose objects or arguments are
unknown fails ``test_every_id_taking_endpoint_is_covered`` until world.py/endpoints.py say
what it takes.
"""

from __future__ import annotations

import re
from collections import Counter

import pytest

from fixmyphone.extensions import db

from ..api.conftest import bearer
from ..conftest import CSRF_RE, client_for
from .endpoints import discover
from .world import MIRROR, ROLES, Target, World, row_state

RANK = {"tech_unassigned": 1, "tech_assigned": 1, "admin": 2, "superadmin": 3}
LEVEL = {"staff": 1, "admin": 2, "superadmin": 3}
# The role may see the object but not do this (the shop's rule, not a scope): 403.
ROLE_FORBIDDEN = {
    # Customers do not move repairs; technicians do not assign them or open warranty claims.
    ("api-service-requests.move_request", "customer_a"): 403,
    ("admin_requests.post_assign", "tech_assigned"): 403,
    ("admin_requests.post_warranty", "tech_assigned"): 403,
    ("admin_requests.post_no_charge", "tech_assigned"): 403,
}
REACHED = "reached"
DISABLED = "disabled"
LOGIN = "login"


def expected(case, role: str, targets: list[Target], side: str = "a"):
    """What ``role`` must get from ``case`` on these objects (of party ``side``)."""
    if role == "anonymous":
        return 401 if case.area == "api" else LOGIN
    if case.area == "admin" and RANK.get(role, 0) < LEVEL[case.gate]:
        return 403
    if case.disabled:
        return DISABLED
    if case.unused:
        return 404
    visible = all(role in t.scope for t in targets)
    if not visible or not case.rows(targets[0].obj):
        return 404
    party = MIRROR.get(role, role) if side == "b" else role  # ROLE_FORBIDDEN speaks of A's side
    return ROLE_FORBIDDEN.get((case.endpoint, party), REACHED)


def verdict(response) -> object:
    """The answer, in the terms of ``expected``."""
    status = response.status_code
    location = response.headers.get("Location", "")
    if status == 302 and "/account/login" in location:
        return LOGIN
    if status == 401 or status == 403 or status == 404 or status >= 500:
        return status
    if 200 <= status < 400 or status in (409, 422):
        return REACHED
    return status


def _client_for(app, role: str, world: World):
    client = app.test_client()
    if role == "anonymous":
        return client, {}, _csrf(client, ["/account/login"])
    user = world.users[role]
    client_for(app, user, client=client)
    pages = ["/admin/requests/"] if role != "customer_a" and role != "customer_b" else []
    token = _csrf(client, [*pages, "/account/profile", "/repair/new", "/account/login"])
    return client, bearer(user), token


def _csrf(client, paths) -> str:
    for path in paths:
        match = CSRF_RE.search(client.get(path).get_data(as_text=True))
        if match:
            return match.group(1) or match.group(2)
    raise AssertionError(f"no page among {paths} renders a CSRF token")


def run(client, case, url: str, kwargs: dict, headers: dict, token: str):
    if "form" in kwargs:
        data = {"csrf_token": token, **kwargs["form"]}
        response = client.open(url, method=case.method, data=data)
    else:
        extra = {"headers": headers} if case.area == "api" else {}
        if "json" in kwargs:
            extra["json"] = kwargs["json"]
        response = client.open(url, method=case.method, **extra)
    response.get_data()  # streamed bodies (PDFs, CSV) run inside the request
    return response


def test_every_id_taking_endpoint_is_covered(app):
    """Unknown arguments, models or API bodies fail here, naming what to add."""
    found = discover(app)
    assert not found.problems, "\n".join(found.problems)
    areas = Counter(case.area for case in found.cases)
    # The three surfaces are all there (a discovery that finds nothing proves nothing).
    assert areas["admin"] > 50 and areas["api"] >= 7 and areas["web"] >= 10, areas
    names = {case.name for case in found.cases}
    for must in (
        "GET /admin/technicians/details_view on a super admin account",
        "POST /admin/customers/edit_view on a super admin account",
        "POST /api/service-request/<id:request_id>/messages",
        "PUT /api/customer/<id:customer_id>/profile with a super admin as customer_id",
        "GET /account/repairs/<int:request_id>",
    ):
        assert must in names


@pytest.mark.parametrize("role", ROLES)
def test_access_matrix(app, role):
    world = World()
    client, headers, token = _client_for(app, role, world)
    found = discover(app)
    assert not found.problems, "\n".join(found.problems)
    problems = []
    tally: Counter = Counter()
    # Everyone meets A's objects; the four parties also meet B's (mirrored: B's repairs are
    # assigned to the other technician), so each has objects inside and outside its scope.
    sides = ("a", "b") if role in MIRROR else ("a",)
    for side, case in ((side, case) for side in sides for case in found.cases):
        world.side = side
        url, kwargs, targets = case.build(world)
        if side == "b" and all(t.scope == world.scope(t.scope) for t in targets):
            continue  # nobody's in particular: the same as on side a
        db.session.commit()
        before = {t.kind + str(t.id): row_state(type(t.obj), t.id) for t in targets}
        want = expected(case, role, targets, side)
        tally[want] += 1
        response = run(client, case, url, kwargs, headers, token)
        got = verdict(response)
        ok = got == want or (
            want == DISABLED
            and response.status_code == 302
            and "/account/login" not in response.headers.get("Location", "")
        )
        if not ok:
            body = re.sub(r"\s+", " ", response.get_data()[:400].decode(errors="replace"))[:160]
            problems.append(
                f"{case.name} [{side}: {url}]: got {got} ({response.status_code}), expected {want} — {body}"
            )
        if want not in (REACHED, DISABLED) and case.method != "GET":
            after = {t.kind + str(t.id): row_state(type(t.obj), t.id) for t in targets}
            if after != before:
                problems.append(f"{case.name}: refused ({got}) but changed {sorted(after)}")
    assert not problems, f"{len(problems)} of {len(found.cases)} cases:\n" + "\n".join(problems)
    # Every signed-in role met objects both inside and outside its scope.
    if role != "anonymous":
        assert tally[404] >= 5 and tally[REACHED] >= 5, tally
