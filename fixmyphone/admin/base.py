"""The one secured base for every back-office view: role checks, row scope, no secrets on
screen, safe exports, audit hooks, bulk helpers.

Roles: anonymous users go to the login page; customers get 403; technicians see the views
marked ``STAFF`` (their queue); admins see everything but ``SUPERADMIN`` views (admin accounts,
audit log); super admins see everything.

Rows: a model view's ``get_query`` is its scope. Every way Flask-Admin reaches one object by id
(details, edit, delete, ajax update, bulk actions, custom pages through ``get_one``/``load``)
goes through it, and an object outside it answers 404, like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, time
from typing import Any, Optional

import sqlalchemy as sa
from flask import Response, abort, flash, g, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView
from flask_admin.actions import action
from flask_admin.contrib.sqla import ModelView
from flask_admin.contrib.sqla.ajax import QueryAjaxModelLoader
from flask_admin.model import typefmt
from flask_login import current_user

from ..domain_errors import DomainError
from ..extensions import db
from ..formatting import local_time
from ..labels import fallback
from ..models import ServiceRequest
from ..services import audit, exports, repairs

STAFF, ADMIN, SUPERADMIN = "staff", "admin", "superadmin"

# Columns no back-office page, form, export or audit entry shows: password hashes, tokens
# (tracking, reset, refresh), the encrypted passcode, session counters, provider secrets.
# Any column named like one (``*_hash``, ``*_token``, ...) counts too, so a new one is hidden
# before anyone remembers to list it.
SECRET_FIELDS = frozenset(
    {
        "password_hash",
        "passcode_encrypted",
        "tracking_token",
        "session_version",
        "token_hash",
        "family_id",
        "jti",
        "dedup_key",
        "remember_token",
        "token",
        "secret",
        "api_key",
    }
)
SECRET_SUFFIXES = ("_hash", "_token", "_secret", "_encrypted", "_jti", "_api_key", "_password")

# The largest id a database integer column holds: a bigger one names nothing (404, not a 500).
MAX_ID = 2**31 - 1


# Times on every list and details page as people read them: a stored UTC moment in the shop's
# zone without seconds, a time of day (a shift) as 09:00. Exports keep Flask-Admin's defaults.
_READABLE_TIMES = {
    datetime: lambda view, value, name: local_time(value),
    time: lambda view, value, name: value.strftime("%H:%M"),
}


def is_secret(column: Any) -> bool:
    """True for a column (name, dotted path or attribute) that holds a secret."""
    name = column if isinstance(column, str) else getattr(column, "key", None) or str(column)
    key = name.rsplit(".", 1)[-1].lower()
    return key in SECRET_FIELDS or key.endswith(SECRET_SUFFIXES)


def parse_id(raw: Any) -> Optional[int]:
    """A row id from a URL or form (ASCII digits within a database integer), else None."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        number = raw
    elif isinstance(raw, str) and raw.isascii() and raw.isdigit() and len(raw) <= 12:
        number = int(raw)
    else:
        return None
    return number if 1 <= number <= MAX_ID else None


def related_scope(model: type, query):
    """Rows of another model a back-office form or lookup may offer: the viewer's repairs only
    (``repairs.visible_to``); other models are limited by the view's role alone."""
    if model is ServiceRequest:
        return query.filter(repairs.visible_to(current_user))
    return query


def role_allows(level: str) -> bool:
    """True when the logged-in user's role reaches ``level``."""
    user = current_user
    if not user.is_authenticated or not user.is_staff:
        return False
    if level == STAFF:
        return True
    if level == ADMIN:
        return user.is_admin
    return user.is_superadmin


class SecuredMixin:
    """Access control shared by model views, custom pages and the dashboard."""

    access: str = ADMIN

    def is_accessible(self) -> bool:
        return role_allows(self.access)

    def is_visible(self) -> bool:
        return self.is_accessible()

    def inaccessible_callback(self, name: str, **kwargs: Any):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)


class SecuredIndexView(SecuredMixin, AdminIndexView):
    """Base of the dashboard."""

    access = STAFF


class SecuredPage(SecuredMixin, BaseView):
    """A custom back-office page (reports, inbox, calendar)."""


def snapshot(obj: Any) -> dict:
    """The column values of a model instance, without secrets, for the audit log."""
    state = sa.inspect(obj)
    values = {}
    for attr in state.mapper.column_attrs:
        if is_secret(attr.key):
            continue
        values[attr.key] = getattr(obj, attr.key, None)
    return audit._jsonable(values)  # noqa: SLF001


class ScopedAjaxLoader(QueryAjaxModelLoader):
    """A form's ajax lookup that offers, and accepts, only rows in ``related_scope``."""

    def __init__(self, name, session, model, **options):
        super().__init__(name, session, model, **options)
        if any(is_secret(field) for field in self.fields):
            raise ValueError(f"{model.__name__}: an ajax lookup cannot search a secret column")

    def get_query(self):
        return related_scope(self.model, super().get_query())

    def get_one(self, pk):
        key = parse_id(pk)
        if key is None:
            return None
        with db.session.no_autoflush:
            return self.get_query().filter(getattr(self.model, self.pk) == key).first()


class SecuredModelView(SecuredMixin, ModelView):
    """A model view scoped by ``get_query`` everywhere, with no secret column on any page,
    form or export, exports safe to open in a spreadsheet, and every create, update and delete
    in the audit log."""

    page_size = 25
    list_template = "admin/fmp_list.html"
    # What the search box searches, in words ("reference, customer name or email"); without
    # one, the searchable columns' names are made readable.
    search_hint: Optional[str] = None
    export_max_rows = 50000
    can_view_details = True
    named_filter_urls = True
    column_type_formatters = {**typefmt.BASE_FORMATTERS, **_READABLE_TIMES}
    column_type_formatters_detail = {**typefmt.DETAIL_FORMATTERS, **_READABLE_TIMES}

    def search_placeholder(self) -> Optional[str]:
        if self.search_hint:
            return f"Search {self.search_hint}"
        if not self.column_searchable_list:
            return None
        names = []
        for column in self.column_searchable_list:
            key = column if isinstance(column, str) else getattr(column, "key", str(column))
            names.append(str(self.column_labels.get(key) or key.replace(".", " ")).lower())
        return fallback("Search " + ", ".join(names).replace("_", " "))

    def __init__(self, model, **kwargs):
        excluded = [c.key for c in sa.inspect(model).column_attrs if is_secret(c.key)]
        self.form_excluded_columns = [*(self.form_excluded_columns or ()), *excluded]
        super().__init__(model, db, **kwargs)
        self._refuse_secret_columns()

    # -- no secret on a page, in a form or in an export

    def _refuse_secret_columns(self) -> None:
        # Searching, filtering or sorting on a secret would reveal it a character at a time.
        configured = [
            *(self.column_searchable_list or ()),
            *(self.column_sortable_list or ()),
            *(self.column_editable_list or ()),
            *(getattr(f, "column", f) for f in (self.column_filters or ())),
        ]
        for column in configured:
            name = column[1] if isinstance(column, tuple) else column
            if is_secret(name):
                raise ValueError(f"{type(self).__name__}: {name} is secret")

    def get_column_names(self, only_columns, excluded_columns):
        """List, details and export columns, without secrets whatever a view lists."""
        names = super().get_column_names(only_columns, excluded_columns)
        return [(column, title) for column, title in names if not is_secret(column)]

    def scaffold_form(self):
        form_class = super().scaffold_form()
        for name in [n for n in dir(form_class) if is_secret(n)]:
            delattr(form_class, name)
        return form_class

    def get_export_value(self, model, name):
        """Every exported cell, neutralised against spreadsheet formulas (exports.safe_cell)."""
        return exports.safe_cell(super().get_export_value(model, name))

    # -- row scope: one object by id, only from get_query

    def get_one(self, id):
        """The row with this id if it is in this view's scope (``get_query``); else 404."""
        key = parse_id(id)
        if key is None:
            abort(404)
        pk = sa.inspect(self.model).primary_key[0]
        found = self.get_query().filter(pk == key).first()
        if found is None:
            abort(404)
        return found

    def _create_ajax_loader(self, name, options):
        attr = getattr(self.model, name, None)
        if attr is None or not hasattr(attr, "prop") or not hasattr(attr.prop, "mapper"):
            raise ValueError(f"{self.model.__name__}.{name} is not a relation")
        return ScopedAjaxLoader(name, db, attr.prop.mapper.class_, **options)

    def _process_ajax_references(self):
        # Only loaders this base builds (scoped): a ready-made loader would bypass the scope.
        for name, options in (self.form_ajax_refs or {}).items():
            if not isinstance(options, dict):
                raise ValueError(f"{type(self).__name__}.form_ajax_refs[{name!r}]: use a dict")
        return super()._process_ajax_references()

    # -- audit hooks: the before image is taken before the form touches the object

    def update_model(self, form, model) -> bool:
        g.admin_before = snapshot(model)
        return super().update_model(form, model)

    def on_model_delete(self, model) -> None:
        g.admin_before = snapshot(model)

    def after_model_change(self, form, model, is_created: bool) -> None:
        verb = "created" if is_created else "updated"
        audit.record(
            current_user,
            f"admin_{verb}",
            model,
            before=None if is_created else g.pop("admin_before", None),
            after=snapshot(model),
        )
        db.session.commit()

    def after_model_delete(self, model) -> None:
        before = g.pop("admin_before", None) or {}
        audit.record(
            current_user,
            "admin_deleted",
            None,
            object_type=type(model).__name__,
            object_id=before.get("id"),
            before=before,
        )
        db.session.commit()

    def handle_view_exception(self, exc: Exception) -> bool:
        # A shop rule refused a form save: show the reason instead of a 500.
        if isinstance(exc, DomainError):
            flash(exc.message, "error")
            db.session.rollback()
            return True
        return super().handle_view_exception(exc)

    def _export_csv(self, return_url):
        # Build the file inside the request instead of streaming it after the request ends:
        # the export is bounded by export_max_rows, and the audit of it needs the request.
        streamed = super()._export_csv(return_url)
        body = b"".join(
            chunk.encode() if isinstance(chunk, str) else chunk for chunk in streamed.response
        )
        audit.record(
            current_user,
            "admin_export",
            None,
            object_type=self.model.__name__,
            after={"rows": exports.count_records(body.decode()) - 1},
        )
        db.session.commit()
        return Response(body, mimetype=streamed.mimetype, headers=dict(streamed.headers))

    # -- bulk actions

    @action("delete", "Delete", "Are you sure you want to delete the selected records?")
    def action_delete(self, ids):
        """Flask-Admin's bulk delete, on the scoped rows only, one by one through delete_model
        (so each is audited and may be refused)."""
        deleted = sum(1 for obj in self.load(ids) if self.delete_model(obj))
        if deleted:
            flash(f"Deleted: {deleted}.", "success")

    def handle_action(self, return_view=None):
        # A selected row outside the viewer's scope (or none at all) answers 404 before any
        # action runs, like a details or edit page would.
        if request.method == "POST" and self.validate_form(self.action_form()):
            self.load(request.form.getlist("rowid"))
        return super().handle_action(return_view)

    def load(self, ids: Iterable[str]) -> list:
        """The objects behind the selected row ids, all in this view's scope; else 404."""
        wanted = {parse_id(i) for i in ids}
        if None in wanted:
            abort(404)
        if not wanted:
            return []
        pk = sa.inspect(self.model).primary_key[0]
        found = list(self.get_query().filter(pk.in_(wanted)).order_by(pk))
        if len(found) != len(wanted):
            abort(404)
        return found

    def run_each(
        self,
        ids: Iterable[str],
        action: str,
        apply: Callable[[Any], Optional[str]],
        done: str,
        label: Callable[[Any], str] = str,
    ) -> tuple[int, int]:
        """Apply ``apply`` to each selected object in its own savepoint; flash each refusal.

        Legal changes are kept even when others are refused. Returns (done, refused).
        """
        ok = refused = 0
        objects = self.load(ids)
        for obj in objects:
            try:
                with db.session.begin_nested():
                    apply(obj)
                ok += 1
            except DomainError as exc:
                refused += 1
                flash(f"{label(obj)}: {exc.message}", "error")
        audit.record(
            current_user,
            f"admin_action:{action}",
            None,
            object_type=self.model.__name__,
            after={"ids": [getattr(o, "id", None) for o in objects], "done": ok},
        )
        db.session.commit()
        if ok:
            flash(f"{done}: {ok} of {len(objects)}.", "success")
        return ok, refused


def refusal_text(exc: DomainError) -> str:
    """The refusal, with what is wrong in each field when the service named fields."""
    fields = getattr(exc, "fields", None) or {}
    details = "; ".join(
        f"{name.replace('_', ' ').capitalize()}: {' '.join(messages)}"
        for name, messages in fields.items()
    )
    return f"{exc.message} {details}" if details else exc.message


def commit_or_flash(fn: Callable[[], Any], success: Optional[str] = None) -> bool:
    """Run one service call for a page form; commit, or roll back and flash the refusal."""
    try:
        fn()
        db.session.commit()
    except DomainError as exc:
        db.session.rollback()
        flash(refusal_text(exc), "error")
        return False
    if success:
        flash(success, "success")
    return True
