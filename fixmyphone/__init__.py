"""FixMyPhone: software that runs a phone repair shop."""

from __future__ import annotations

import os

from flask import Flask

from .config import CONFIGS, INSTANCE_DIR, Config


def create_app(config_class: type[Config] | None = None, **overrides) -> Flask:
    """Build the application: config, extensions, blueprints, admin, CLI."""
    if config_class is None:
        config_class = CONFIGS[os.environ.get("FIXMYPHONE_CONFIG", "development")]
    app = Flask(
        __name__,
        instance_path=str(INSTANCE_DIR),
        template_folder="../templates",
        static_folder="../static",
    )
    app.config.from_object(config_class)
    app.config.update(overrides)
    config_class.finalise(app.config)

    register_extensions(app)
    register_blueprints(app)
    register_admin(app)
    register_security(app)
    register_errors(app)
    register_commands(app)
    register_template_helpers(app)
    return app


def register_extensions(app: Flask) -> None:
    from . import queue  # noqa: F401  (installs the after-commit job hooks)
    from .auth import init_login
    from .database import install_liveness_checks
    from .extensions import csrf, db, limiter, migrate
    from .services import search  # noqa: F401  (installs the search-text upkeep on flush)

    db.init_app(app)
    with app.app_context():
        for engine in db.engines.values():
            install_liveness_checks(engine)
    migrate.init_app(app, db, directory=str(os.path.join(app.root_path, "..", "migrations")))
    csrf.init_app(app)
    limiter.init_app(app)
    init_login(app)


def register_blueprints(app: Flask) -> None:
    from .api import register_api
    from .auth import bp as auth_bp
    from .health import bp as health_bp
    from .notifications import init_notifications
    from .payments import bp as payments_bp
    from .public import bp as public_bp

    app.register_blueprint(public_bp)
    app.register_blueprint(auth_bp, url_prefix="/account")
    app.register_blueprint(health_bp)
    app.register_blueprint(payments_bp)
    init_notifications(app)
    register_api(app)


def register_admin(app: Flask) -> None:
    from .admin import init_admin

    init_admin(app)


def register_security(app: Flask) -> None:
    from .observability import init_observability
    from .security import init_security

    init_observability(app)
    init_security(app)


def register_errors(app: Flask) -> None:
    from .errors import init_errors

    init_errors(app)


def register_commands(app: Flask) -> None:
    from .commands import init_commands

    init_commands(app)


def register_template_helpers(app: Flask) -> None:
    from .templating import init_templating

    init_templating(app)
