"""The one secured base for every back-office view: role checks, audit hooks, bulk helpers.

Roles: anonymous users go to the login page; customers get 403; technicians see the views
marked ``STAFF`` (their queue); admins see everything but ``SUPERADMIN`` views (admin accounts,
audit log); super admins see everything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Optional

import sqlalchemy as sa
from flask import Response, abort, flash, g, redirect, request, url_for
from flask_admin import AdminIndexView, BaseView
from flask_admin.contrib.sqla import ModelView
from flask_login import current_user

from ..extensions import db
from ..services import audit
from ..services.errors import DomainError

STAFF, ADMIN, SUPERADMIN = "staff", "admin", "superadmin"
SECRET_FIELDS = {"password_hash", "passcode_encrypted", "tracking_token", "session_version"}


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
        if attr.key in SECRET_FIELDS:
            continue
        values[attr.key] = getattr(obj, attr.key, None)
    return audit._jsonable(values)  # noqa: SLF001


class SecuredModelView(SecuredMixin, ModelView):
    """A model view whose every create, update and delete lands in the audit log."""

    page_size = 25
    list_template = "admin/fmp_list.html"
    export_max_rows = 50000
    can_view_details = True
    named_filter_urls = True

    def __init__(self, model, **kwargs):
        super().__init__(model, db, **kwargs)

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
            after={"rows": body.count(b"\n") - 1},
        )
        db.session.commit()
        return Response(body, mimetype=streamed.mimetype, headers=dict(streamed.headers))

    # -- bulk actions

    def load(self, ids: Iterable[str]) -> list:
        """The objects behind the selected row ids that this user may see."""
        wanted = [int(i) for i in ids if str(i).isdigit()]
        if not wanted:
            return []
        pk = sa.inspect(self.model).primary_key[0]
        return list(self.get_query().filter(pk.in_(wanted)).order_by(pk))

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
