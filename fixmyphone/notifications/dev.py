"""/dev/outbox: the recent emails and SMS as their readers get them (development only).

The blueprint is registered only when ``dev_outbox.console_enabled`` holds for the app (the
development configuration), so in production the page does not exist. It shows live reset
and tracking links, so it also answers only requests coming from this machine.
"""

from __future__ import annotations

from ipaddress import ip_address

from flask import Blueprint, abort, render_template, request

from ..services import delivery, dev_outbox
from ..services.delivery import linkify

bp = Blueprint("dev_outbox", __name__)


def _from_this_machine() -> bool:
    # The address the connection came from, before any proxy header was applied.
    original = request.environ.get("werkzeug.proxy_fix.orig") or {}
    remote = original.get("REMOTE_ADDR") or request.environ.get("REMOTE_ADDR") or ""
    try:
        return ip_address(remote.split("%", 1)[0]).is_loopback
    except ValueError:
        return False


@bp.get("/dev/outbox")
def outbox():
    """The newest notifications with their rendered text (development only)."""
    if not _from_this_machine():
        abort(404)
    rows = dev_outbox.recent()
    return render_template(
        "dev/outbox.html",
        rows=[(row, delivery.rendered(row)) for row in rows],
        linkify=linkify,
    )
