"""Backups of a SQLite shop: a consistent snapshot out, and back in."""

import sqlalchemy as sa
from flask_migrate import upgrade

from fixmyphone import create_app
from fixmyphone.config import TestConfig
from fixmyphone.extensions import db
from fixmyphone.models import User


def test_backup_then_restore_brings_the_data_back(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    runner = app.test_cli_runner()
    with app.app_context():
        upgrade()
    assert (
        runner.invoke(
            args=["create-superadmin", "--email", "o@shop.example", "--password", "long-enough-1"]
        ).exit_code
        == 0
    )

    result = runner.invoke(args=["backup", str(tmp_path / "backups" / "b1.db")])
    assert result.exit_code == 0, result.output
    assert (
        runner.invoke(args=["backup", str(tmp_path / "backups" / "b1.db")]).exit_code != 0
    )  # no overwrite

    with app.app_context():
        db.session.execute(sa.delete(User))
        db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0

    assert (
        runner.invoke(args=["restore", str(tmp_path / "backups" / "b1.db")], input="n\n").exit_code
        != 0
    )
    result = runner.invoke(args=["restore", "--yes", str(tmp_path / "backups" / "b1.db")])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(User.email)) == "o@shop.example"


def test_restore_refuses_a_file_that_is_not_a_shop_database(tmp_path):
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI=url)
    junk = tmp_path / "junk.db"
    junk.write_text("not a database")
    result = app.test_cli_runner().invoke(args=["restore", "--yes", str(junk)])
    assert result.exit_code != 0 and "not a SQLite database" in result.output


def test_backup_points_postgres_users_to_pg_dump(tmp_path):
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="postgresql+psycopg://u@127.0.0.1:1/x")
    result = app.test_cli_runner().invoke(args=["backup", str(tmp_path / "x.db")])
    assert result.exit_code != 0 and "pg_dump" in result.output
