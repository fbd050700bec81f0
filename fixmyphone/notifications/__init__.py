"""In-app notifications: the bell, the list page, mark-as-read, the unread count as JSON."""

from flask import Blueprint, Flask

from ..services.dev_outbox import console_enabled

bp = Blueprint("notifications", __name__)

from . import routes  # noqa: E402,F401
from .dev import bp as dev_bp  # noqa: E402


def init_notifications(app: Flask) -> None:
    """The blueprint at /notifications and, in development, the outbox page at /dev/outbox."""
    app.register_blueprint(bp, url_prefix="/notifications")
    if console_enabled(app):
        app.register_blueprint(dev_bp)
