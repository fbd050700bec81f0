"""Flask CLI commands: create-superadmin, seed-demo, worker."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import with_appcontext

from .backup import backup, restore
from .benchdata import bench_data
from .domain_errors import DomainError
from .extensions import db
from .jobs import run_periodic
from .models import Role, User
from .seed import DEMO_LOGINS, DEMO_PASSWORD, seed
from .services import accounts


@click.command("create-superadmin")
@with_appcontext
@click.option("--email", help="Login email of the new super admin.")
@click.option("--password", help="Password (prompted for, hidden, when omitted).")
@click.option("--name", "full_name", default="Super Admin", show_default=True)
def create_superadmin(email: str | None, password: str | None, full_name: str) -> None:
    """Create a super admin account (non-interactive when --email and --password are given)."""
    if not email:
        email = click.prompt("Email")
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        user = accounts.create_user(
            email=email, password=password, full_name=full_name, role=Role.SUPERADMIN
        )
    except DomainError as exc:
        details = "; ".join(f"{k}: {' '.join(v)}" for k, v in (exc.fields or {}).items())
        raise click.ClickException(f"{exc.message} {details}".strip()) from None
    db.session.commit()
    click.echo(f"Super admin {user.email} created.")


@click.command("seed-demo")
@with_appcontext
@click.option(
    "--if-empty",
    is_flag=True,
    help="Do nothing (but still print the demo logins) when the database has users already.",
)
def seed_demo(if_empty: bool) -> None:
    """Fill an empty database with a realistic demo shop and print the demo logins."""
    if db.session.scalar(sa.select(sa.func.count()).select_from(User)):
        if not if_empty:
            raise click.ClickException("The database already has users; seed-demo runs only once.")
        click.echo("The database already has data; not seeding it again.")
    else:
        counts = seed()
        db.session.commit()
        click.echo("Demo shop ready: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    click.echo(f"Demo logins (password for all: {DEMO_PASSWORD}):")
    for role, email in DEMO_LOGINS:
        click.echo(f"  {role:<12} {email}")


@click.command("worker")
@click.option("--queues", default=None, help="Comma-separated queue names (default: all).")
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--no-periodic",
    is_flag=True,
    help="Do not take part in enqueuing the periodic jobs (sweeps, reminders, checks).",
)
def worker(queues: str | None, burst: bool, no_periodic: bool) -> None:
    """Run an RQ worker (with the scheduler) inside the app's configuration."""
    if not current_app.config["REDIS_URL"]:
        raise click.ClickException("REDIS_URL is not set: without Redis, jobs run in-process.")
    names = queues.split(",") if queues else current_app.config["RQ_QUEUES"]
    # loaded on first use: rq and redis (~7.5 MB), which a web worker never needs
    from .worker import run_worker

    run_worker(current_app._get_current_object(), names, burst=burst, periodic=not no_periodic)


@click.command("sweep")
def sweep() -> None:
    """Run the periodic jobs once, here: outbox sweep, reminders, staff checks (for cron)."""
    for name, result in run_periodic().items():
        click.echo(f"{name}: " + ", ".join(f"{k}={v}" for k, v in result.items()))


def init_commands(app: Flask) -> None:
    """Register the CLI commands."""
    for command in (create_superadmin, seed_demo, worker, sweep):
        app.cli.add_command(command)
    for command in (backup, restore, bench_data):
        app.cli.add_command(command)
