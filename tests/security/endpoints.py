"""Every endpoint that takes an object id, found in the app rather than listed by hand.

Two sources: ``app.url_map`` (rules with an integer or id converter: web, back office, API)
and Flask-Admin's registered model views (details, edit, delete, ajax update and every bulk
action, which name their object with ``?id=``, ``id=``, ``list_form_pk=`` or ``rowid=``).
An argument, a model or an API write this module does not know is reported as a problem, so
a new route fails the matrix until someone says what it takes and who may reach it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Optional

from flask import Flask
from flask_admin.model import BaseModelView
from werkzeug.routing import IntegerConverter

from fixmyphone.api.fields import IdConverter
from fixmyphone.extensions import db

from .world import (
    ARG_TARGETS,
    ENDPOINT_ARG_TARGETS,
    MODEL_TARGETS,
    SUPERADMIN_TARGET_ARGS,
    VIEW_ROWS,
    Target,
    World,
)

SKIP_METHODS = {"HEAD", "OPTIONS"}
ID_CONVERTERS = (IntegerConverter, IdConverter)
# URL arguments that are not object ids: a value to put there, or None when the argument is
# a capability (a secret link's token: whoever holds it may see the repair, by design) or a
# static file name, which makes the rule no id-taking endpoint.
NON_ID_ARGS: dict[str, Optional[str]] = {
    "op": "release",
    "kind": "fee",
    "token": None,
    "filename": None,
    "export_type": "csv",
    "report": "revenue",
}
# A valid body for each API write that takes an id (validation runs before the lookup, so an
# invalid body would answer 422 whoever asks).
API_BODIES: dict[str, Callable[[], dict]] = {
    "api-service-requests.move_request": lambda: {"status": "in_progress", "note": "matrix"},
    "api-service-requests.post_message": lambda: {"body": "From the matrix"},
    "api-customers.update_profile": lambda: {"city": "Matrixville"},
    "api-appointments.reschedule": lambda: {"start": "2031-01-07T10:00:00+00:00"},
    "api-appointments.cancel": lambda: {"reason": "matrix"},
}
ADMIN_MODEL_ENDPOINTS = (
    ("GET", "details_view"),
    ("GET", "edit_view"),
    ("POST", "edit_view"),
    ("POST", "delete_view"),
    ("POST", "ajax_update"),
)


@dataclass
class Case:
    """One request to make, for one role, against freshly made objects."""

    name: str
    method: str
    area: str  # "admin", "api" or "web"
    endpoint: str
    gate: str  # who may enter at all: "user", or an admin view's access level
    build: Callable[[World], tuple[str, dict, list[Target]]]
    rows: Callable[[Any], bool] = lambda obj: True
    disabled: bool = False  # a Flask-Admin page its view switches off (redirects to the list)
    unused: bool = False  # answers 404 to everyone (ajax update without editable columns)


@dataclass
class Discovery:
    cases: list[Case] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def model_views(app: Flask) -> list[BaseModelView]:
    """The back office's model views, as Flask-Admin registered them."""
    return [
        view
        for admin in app.extensions["admin"]
        for view in admin._views  # noqa: SLF001
        if isinstance(view, BaseModelView)
    ]


def view_for_endpoint(app: Flask, endpoint: str):
    """The Flask-Admin view that serves ``endpoint`` (None outside the back office)."""
    prefix = endpoint.split(".", 1)[0]
    for admin in app.extensions["admin"]:
        for view in [admin.index_view, *admin._views]:  # noqa: SLF001
            if view.endpoint == prefix:
                return view
    return None


def discover(app: Flask) -> Discovery:
    """Every id-taking endpoint of ``app`` as cases, and what could not be made into one."""
    found = Discovery()
    _admin_model_cases(app, found)
    _url_map_cases(app, found)
    return found


def _admin_model_cases(app: Flask, found: Discovery) -> None:
    for view in model_views(app):
        targets = MODEL_TARGETS.get(view.model)
        if targets is None:
            found.problems.append(
                f"{view.endpoint}: no target factory for model {view.model.__name__} "
                "(add it to world.MODEL_TARGETS)"
            )
            continue
        rows = VIEW_ROWS.get(view.endpoint, lambda obj: True)
        gate = getattr(view, "access", None)
        if gate is None:
            found.problems.append(f"{view.endpoint}: not a SecuredModelView (no access level)")
            continue
        requests = [(m, e, None) for m, e in ADMIN_MODEL_ENDPOINTS]
        requests += [("POST", "action_view", name) for name in sorted(view._actions_data)]  # noqa: SLF001
        for kind, scope, factory in targets:
            for method, name, action in requests:
                disabled = (
                    (name == "details_view" and not view.can_view_details)
                    or (name == "edit_view" and not view.can_edit)
                    or (name == "delete_view" and not view.can_delete)
                )
                label = f"{method} {view.url}/{name}" + (f"[{action}]" if action else "")
                found.cases.append(
                    Case(
                        name=f"{label} on a {kind}",
                        method=method,
                        area="admin",
                        endpoint=f"{view.endpoint}.{name}",
                        gate=gate,
                        build=_admin_builder(view, name, action, kind, scope, factory),
                        rows=rows,
                        disabled=disabled,
                        unused=name == "ajax_update" and not view.column_editable_list,
                    )
                )


def _admin_builder(view, name, action, kind, scope, factory):
    base = view.url.rstrip("/")

    def build(world: World):
        obj = factory(world)
        db.session.flush()
        target = Target(id=obj.id, scope=world.scope(scope), obj=obj, kind=kind)
        if name == "details_view":
            return f"{base}/details/?id={obj.id}", {}, [target]
        if name == "edit_view":
            return f"{base}/edit/?id={obj.id}", {"form": {}}, [target]
        if name == "delete_view":
            return f"{base}/delete/", {"form": {"id": str(obj.id)}}, [target]
        if name == "ajax_update":
            return f"{base}/ajax/update/", {"form": {"list_form_pk": str(obj.id)}}, [target]
        form = {"action": action, "rowid": [str(obj.id)], "url": f"{base}/"}
        return f"{base}/action/", {"form": form}, [target]

    return build


def _url_map_cases(app: Flask, found: Discovery) -> None:
    adapter = app.url_map.bind("shop.test")
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        converters = rule._converters  # noqa: SLF001
        id_args = [a for a, c in converters.items() if isinstance(c, ID_CONVERTERS)]
        other = [a for a in converters if a not in id_args]
        unknown = [a for a in other if a not in NON_ID_ARGS]
        if unknown:
            found.problems.append(
                f"{rule.rule}: argument(s) {unknown} neither an id nor a known non-id argument "
                "(tests/security/endpoints.NON_ID_ARGS)"
            )
            continue
        if not id_args or any(NON_ID_ARGS[a] is None for a in other):
            continue
        missing = [
            a
            for a in id_args
            if a not in ARG_TARGETS and (rule.endpoint, a) not in ENDPOINT_ARG_TARGETS
        ]
        if missing:
            found.problems.append(
                f"{rule.rule}: no target factory for {missing} (tests/security/world.ARG_TARGETS)"
            )
            continue
        area = (
            "api"
            if rule.rule.startswith("/api/")
            else "admin"
            if rule.rule.startswith("/admin/")
            else "web"
        )
        gate, rows = "user", (lambda obj: True)
        if area == "admin":
            view = view_for_endpoint(app, rule.endpoint)
            if view is None or not hasattr(view, "access"):
                found.problems.append(f"{rule.rule}: no secured back-office view serves it")
                continue
            gate = view.access
            rows = VIEW_ROWS.get(view.endpoint, rows)
        for method in sorted(rule.methods - SKIP_METHODS):
            if area == "api" and method in {"POST", "PUT", "PATCH"}:
                if rule.endpoint not in API_BODIES:
                    found.problems.append(
                        f"{method} {rule.rule}: no valid body (tests/security/endpoints.API_BODIES)"
                    )
                    continue
            variants = [None]
            variants += [a for a in id_args if a in SUPERADMIN_TARGET_ARGS]
            for superadmin_arg in variants:
                what = f" with a super admin as {superadmin_arg}" if superadmin_arg else ""
                found.cases.append(
                    Case(
                        name=f"{method} {rule.rule}{what}",
                        method=method,
                        area=area,
                        endpoint=rule.endpoint,
                        gate=gate,
                        build=_rule_builder(adapter, rule, method, id_args, other, superadmin_arg),
                        rows=rows,
                    )
                )


def _rule_builder(adapter, rule, method, id_args, other, superadmin_arg):
    def build(world: World):
        made: dict[str, Any] = {}
        targets = []
        for arg in id_args:
            kind, scope, factory = (
                ENDPOINT_ARG_TARGETS.get((rule.endpoint, arg)) or ARG_TARGETS[arg]
            )
            if arg == superadmin_arg:
                obj = world.account("superadmin")
                kind, scope = "super admin account", frozenset()
            else:
                obj = factory(world, made)
            db.session.flush()
            if kind == "repair":
                made[arg] = obj
            targets.append(
                Target(id=obj.id, scope=world.scope(frozenset(scope)), obj=obj, kind=kind)
            )
        values = {a: t.id for a, t in zip(id_args, targets, strict=True)}
        values.update({a: NON_ID_ARGS[a] for a in other})
        url = adapter.build(rule.endpoint, values, method=method)
        kwargs: dict = {}
        if rule.rule.startswith("/api/"):
            if rule.endpoint in API_BODIES:
                kwargs["json"] = API_BODIES[rule.endpoint]()
        elif method != "GET":
            kwargs["form"] = {}
        return url, kwargs, targets

    return build
