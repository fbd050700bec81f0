"""The schema is made by migrations only, and they match the models."""

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from fixmyphone import create_app
from fixmyphone.config import TestConfig
from fixmyphone.extensions import db
from fixmyphone.models import exists_on


def _render_item(type_, obj, autogen_context):
    return False


def _check(url: str, tmp_path) -> None:
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_FOLDER=str(tmp_path))
    with app.app_context():
        upgrade()
        with db.engine.connect() as conn:
            # As migrations/env.py: objects the models make on another dialect only are left out.
            dialect = conn.dialect.name
            opts = {
                "compare_type": True,
                "include_object": lambda obj, name, type_, reflected, compare_to: (
                    reflected or exists_on(obj, dialect)
                ),
            }
            context = MigrationContext.configure(conn, opts=opts)
            diff = compare_metadata(context, db.metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        tables = set(sa.inspect(db.engine).get_table_names())
        assert {"users", "service_requests", "status_changes", "appointments"} <= tables
        downgrade(revision="base")
        assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
        db.session.remove()
        db.engine.dispose()


def test_migrations_match_models_and_go_both_ways_on_sqlite(tmp_path):
    _check(f"sqlite:///{tmp_path / 'migrate.db'}", tmp_path)


@pytest.mark.postgres
def test_migrations_match_models_and_go_both_ways_on_postgresql(require_postgres, tmp_path):
    _check(require_postgres, tmp_path)
