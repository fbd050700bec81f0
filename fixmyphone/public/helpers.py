"""Small pieces the customer pages share: optional endpoints, form errors, header counts."""

from __future__ import annotations

from typing import Optional

from flask import current_app, url_for
from flask_login import current_user
from flask_wtf import FlaskForm

from ..domain_errors import DomainError
from ..services.messages import unread_in_header
from . import bp


def endpoint_exists(name: str) -> bool:
    """True when the app has a view called ``name`` (blueprints built in parallel may not)."""
    return name in current_app.view_functions


@bp.app_template_global()
def optional_url(endpoint: str, **values) -> Optional[str]:
    """``url_for`` for an endpoint that may not be registered yet; None when it is not."""
    if not endpoint_exists(endpoint):
        return None
    return url_for(endpoint, **values)


bp.add_app_template_global(endpoint_exists, "endpoint_exists")


@bp.app_context_processor
def customer_globals() -> dict:
    """Unread shop messages for the header badge (customers only; counted with the bell's)."""

    def unread_messages() -> int:
        if not current_user.is_authenticated or current_user.is_staff:
            return 0
        return unread_in_header(current_user).messages

    return {"unread_messages": unread_messages}


def apply_errors(form: FlaskForm, exc: DomainError, aliases: Optional[dict] = None) -> bool:
    """Put a service's field errors next to the form's fields; False when none matched."""
    placed = False
    for name, messages in (exc.fields or {}).items():
        field = getattr(form, (aliases or {}).get(name, name), None)
        if field is not None and hasattr(field, "errors"):
            if not isinstance(field.errors, list):
                field.errors = list(field.errors)
            field.errors.extend(messages)
            placed = True
    return placed
