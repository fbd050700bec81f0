"""The back office (Flask-Admin)."""

from __future__ import annotations

from flask import Flask, abort, redirect, request, url_for
from flask_admin import Admin, AdminIndexView, expose
from flask_admin.theme import Bootstrap4Theme
from flask_login import current_user


class SecuredIndexView(AdminIndexView):
    """The dashboard: staff only."""

    def is_accessible(self) -> bool:
        return current_user.is_authenticated and current_user.is_staff

    def inaccessible_callback(self, name, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path))
        abort(403)

    @expose("/")
    def index(self):
        return self.render("admin/index.html")


def init_admin(app: Flask) -> Admin:
    """Create the back office and its views for this app."""
    admin = Admin(
        app,
        name=app.config["SHOP_NAME"],
        url="/admin",
        index_view=SecuredIndexView(url="/admin"),
        theme=Bootstrap4Theme(swatch="default"),
    )
    return admin
