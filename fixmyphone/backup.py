"""Backups of the SQLite database (PostgreSQL uses pg_dump; see the README)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import click
import sqlalchemy as sa
from flask import current_app
from flask.cli import with_appcontext

from .extensions import db


class BackupError(Exception):
    """A backup or restore could not be done safely."""


def sqlite_path(url: str) -> Path:
    """The file behind a SQLite URL; refuse anything else."""
    parsed = sa.engine.make_url(url)
    if (
        parsed.get_backend_name() != "sqlite"
        or not parsed.database
        or parsed.database == ":memory:"
    ):
        raise BackupError(
            "backup/restore handle SQLite files; for PostgreSQL use pg_dump/pg_restore (README)."
        )
    return Path(parsed.database)


def backup_sqlite(url: str, destination: Path) -> Path:
    """Copy a consistent snapshot of the live database (SQLite's online backup API)."""
    source = sqlite_path(url)
    if not source.exists():
        raise BackupError(f"no database at {source}")
    destination = Path(destination)
    if destination.exists():
        raise BackupError(f"{destination} exists; choose a new file name")
    destination.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(source) as src, sqlite3.connect(destination) as dst:
        src.backup(dst)
    _check(destination)
    return destination


def restore_sqlite(url: str, backup_file: Path) -> Path:
    """Replace the database with a backup, after checking the backup is sound."""
    target = sqlite_path(url)
    backup_file = Path(backup_file)
    if not backup_file.exists():
        raise BackupError(f"no backup at {backup_file}")
    _check(backup_file)
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(backup_file) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    return target


def _check(path: Path) -> None:
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            if conn.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
                raise BackupError(f"{path} fails SQLite's integrity check")
            tables = {
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            }
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{path} is not a SQLite database: {exc}") from None
    if "alembic_version" not in tables or "users" not in tables:
        raise BackupError(f"{path} is not a FixMyPhone database")


@click.command("backup")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False))
def backup(path: str) -> None:
    """Write a consistent snapshot of the SQLite database to PATH."""
    db.session.remove()
    try:
        written = backup_sqlite(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(path))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Backup written to {written}")


@click.command("restore")
@with_appcontext
@click.argument("path", type=click.Path(dir_okay=False))
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def restore(path: str, yes: bool) -> None:
    """Replace the SQLite database with the backup at PATH (stop the app first)."""
    if not yes:
        click.confirm("This replaces every row in the current database. Continue?", abort=True)
    db.session.remove()
    db.engine.dispose()
    try:
        target = restore_sqlite(current_app.config["SQLALCHEMY_DATABASE_URI"], Path(path))
    except BackupError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"Restored {path} into {target}")
