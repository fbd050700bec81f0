"""Liveness and readiness probes."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, current_app, jsonify

from .extensions import csrf, db
from .queue import redis_connection

bp = Blueprint("health", __name__)
csrf.exempt(bp)


@bp.get("/healthz")
def healthz():
    """The process is alive."""
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    """The database and Redis answer and the schema is at the migrations' head."""
    checks: dict[str, str] = {}
    ok = True
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # report, do not crash: this is what the probe is for
        db.session.rollback()
        checks["database"] = f"error: {type(exc).__name__}"
        ok = False
    if checks["database"] == "ok":
        checks["migrations"] = _migrations_state()
        ok = ok and checks["migrations"] == "ok"
    if current_app.config["REDIS_URL"]:
        try:
            redis_connection().ping()
            checks["redis"] = "ok"
        except Exception as exc:
            checks["redis"] = f"error: {type(exc).__name__}"
            ok = False
    else:
        checks["redis"] = "not configured"
    return jsonify(status="ok" if ok else "unavailable", checks=checks), 200 if ok else 503


def _migrations_state() -> str:
    migrate = current_app.extensions["migrate"]
    script = ScriptDirectory.from_config(migrate.migrate.get_config(migrate.directory))
    with db.engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return "ok" if current == set(script.get_heads()) else "not at head"
