"""FixMyPhone: software that runs a phone repair shop.

``create_app`` is the table of contents: everything the app installs, in the order it does.
"""

from __future__ import annotations

import os

from flask import Flask

from . import signals
from .admin import init_admin
from .api import register_api
from .auth import bp as auth_bp
from .auth import init_login
from .commands import init_commands
from .config import INSTANCE_DIR, Config, config_from_environment
from .database import install_liveness_checks, install_read_pages, install_session_settings
from .errors import init_errors
from .extensions import csrf, db, limiter, migrate
from .health import bp as health_bp
from .notifications import init_notifications
from .observability import init_observability
from .payments import bp as payments_bp
from .public import bp as public_bp
from .queue import install_job_hooks
from .security import init_security
from .services import audit, booking, inventory, notifications, warranty
from .services.billing import charges, invoices, issuing
from .services.search import install_search_upkeep
from .templating import init_templating

MIGRATIONS = os.path.join(os.path.dirname(__file__), "..", "migrations")


def create_app(config_class: type[Config] | None = None, **overrides) -> Flask:
    """Build the application: config, extensions, listeners, blueprints, admin, CLI."""
    if config_class is None:
        config_class = config_from_environment()
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.from_object(config_class)
    app.config.update(overrides)
    config_class.finalise(app.config)

    # Extensions (created unbound in extensions.py).
    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            install_liveness_checks(engine)
            install_session_settings(engine)
    install_read_pages(app)
    migrate.init_app(app, db, directory=MIGRATIONS)
    csrf.init_app(app)
    limiter.init_app(app)
    init_login(app)

    # Session listeners: staged jobs run after commit; repairs' search text stays right;
    # an issued invoice cannot be changed.
    install_job_hooks()
    install_search_upkeep()
    issuing.install_issued_guard()

    register_subscribers()

    # Faces.
    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp, url_prefix="/account")
    app.register_blueprint(health_bp)
    app.register_blueprint(payments_bp)
    init_notifications(app)
    register_api(app)
    init_admin(app)

    # Request hooks (request ids, logs, security headers, input guards), errors, CLI, Jinja.
    init_observability(app)
    init_security(app)
    init_errors(app)
    init_commands(app)
    init_templating(app)
    return app


def register_subscribers() -> None:
    """Who acts on a repair's status move, in the order they run (see ``signals``)."""
    signals.move_requested.connect(charges.refuse_unpaid_completion)
    for receiver in (
        booking.on_repair_moved,  # the drop-off appointment ends
        invoices.on_repair_moved,  # the finished work is invoiced
        warranty.on_repair_moved,  # a completed repair's warranty starts
        inventory.on_repair_moved,  # a canceled repair's parts go back to the shelf
        audit.on_repair_moved,  # the move is in the audit log
        notifications.on_repair_moved,  # the customer hears of it
    ):
        signals.repair_moved.connect(receiver)
