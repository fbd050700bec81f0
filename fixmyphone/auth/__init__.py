"""Web accounts: log in, log out, sign up, password reset."""

from __future__ import annotations

from flask import Blueprint, Flask
from flask.sessions import SecureCookieSessionInterface

from ..extensions import login_manager
from ..services import messages

bp = Blueprint("auth", __name__)


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, minus the work a request without a session cookie does
    not need: no signer built to read a cookie that is not there, nothing computed to save an
    empty, untouched session. Every API call is such a request (it sends a bearer token)."""

    def open_session(self, app, request):
        if app.secret_key and self.get_cookie_name(app) not in request.cookies:
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app, session, response):
        if not session and not session.modified:
            if session.accessed:  # Flask's own rule: what read the session varies with it
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


def init_login(app: Flask) -> None:
    """Configure Flask-Login: sessions carry the user's session version."""
    app.session_interface = CookieSessions()
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
        # One statement for who is asking and the header's unread counts (services/messages).
        user = messages.user_with_unread(uid)
        # A deactivated user, or one whose sessions were revoked, is logged out.
        if user is None or not user.active or user.session_version != version:
            return None
        return user


from . import routes  # noqa: E402,F401
