"""The schema is made by migrations only, and they match the models."""

import re

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from fixmyphone import create_app
from fixmyphone.config import TestConfig
from fixmyphone.extensions import db
from fixmyphone.models import StripeEvent, StripeEventStatus, exists_on

QUOTED = re.compile(r"'([^']*)'")


def _values(condition: str) -> list[str]:
    """The quoted values of a CHECK's condition: each database words the rest its own way
    (PostgreSQL: ``status::text = ANY (ARRAY['pending'::character varying, ...])``)."""
    return sorted(set(QUOTED.findall(condition)))


def _declared_checks() -> dict:
    return {
        (table.name, check.name): _values(str(check.sqltext))
        for table in db.metadata.sorted_tables
        for check in table.constraints
        if isinstance(check, sa.CheckConstraint)
    }


def _database_checks() -> dict:
    inspector = sa.inspect(db.engine)
    return {
        (table, check["name"]): _values(check["sqltext"])
        for table in inspector.get_table_names()
        for check in inspector.get_check_constraints(table)
    }


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
        # Autogenerate does not compare CHECK constraints: names and allowed values here.
        assert _database_checks() == _declared_checks()
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


def test_vocabulary_checks_stop_on_a_stored_value_outside_its_vocabulary(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'strays.db'}"
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url, UPLOAD_FOLDER=str(tmp_path))
    events = StripeEvent.__table__
    with app.app_context():
        upgrade(revision="0005")
        with db.engine.begin() as conn:
            conn.execute(
                events.insert().values(
                    id="evt_1", type="x", payload={}, status="weird", received_at=sa.func.now()
                )
            )
        with pytest.raises(SystemExit):  # Flask-Migrate logs the error and exits
            upgrade()
        assert "stripe_events.status: 'weird'" in capsys.readouterr().err
        with db.engine.begin() as conn:
            assert conn.scalar(sa.text("SELECT version_num FROM alembic_version")) == "0005"
            conn.execute(events.update().values(status=StripeEventStatus.IGNORED))
        upgrade()
        with pytest.raises(sa.exc.IntegrityError), db.engine.begin() as conn:
            conn.execute(events.update().values(status="weird"))
        db.session.remove()
        db.engine.dispose()
