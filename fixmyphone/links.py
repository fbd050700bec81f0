"""Absolute links to the shop's pages, for messages, PDFs and jobs: the one place that knows
which endpoint a link leads to.

Links are built on ``PUBLIC_BASE_URL`` (the address customers and staff know), never on the
host a request happened to come in on, and work the same inside a request and in a job.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import current_app

from .models import ServiceRequest


def external_url(endpoint: str, **values: Any) -> str:
    """The absolute URL of ``endpoint`` on PUBLIC_BASE_URL (what ``url_for(..., _external=True)``
    gives on that host); raises ``werkzeug.routing.BuildError`` for an unknown endpoint."""
    base = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    adapter = current_app.url_map.bind(
        base.netloc, script_name=base.path or "/", url_scheme=base.scheme
    )
    current_app.inject_url_defaults(endpoint, values)
    return adapter.build(endpoint, values, force_external=True)


def tracking_url(request: ServiceRequest) -> str:
    """The private link to a repair's tracking page (no login needed)."""
    return external_url("public.track_token", token=request.tracking_token)


def staff_request_url(request_id: int) -> str:
    """A repair's page in the back office."""
    return external_url("admin_requests.request_page", request_id=request_id)


def back_office_url() -> str:
    """The back office's home page."""
    return external_url("admin.index")


def payments_url(status: str) -> str:
    """The back office's payments list, filtered to one status."""
    return external_url("admin_payments.index_view", flt1_status_equals=status)


def reset_password_url(token: str) -> str:
    """The page where a password is chosen with a reset (or invitation) token."""
    return external_url("auth.reset_password", token=token)
