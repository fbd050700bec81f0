"""Web accounts: log in, log out, sign up, password reset."""

from __future__ import annotations

from flask import Blueprint, Flask

from ..extensions import db, login_manager
from ..models import User

bp = Blueprint("auth", __name__)


def init_login(app: Flask) -> None:
    """Configure Flask-Login: sessions carry the user's session version."""
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please log in to continue."
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"

    @login_manager.user_loader
    def load_user(user_id: str):
        try:
            uid, version = (int(part) for part in user_id.split(":", 1))
        except ValueError:
            return None
        user = db.session.get(User, uid)
        # A deactivated user, or one whose sessions were revoked, is logged out.
        if user is None or not user.active or user.session_version != version:
            return None
        return user


from . import routes  # noqa: E402,F401
