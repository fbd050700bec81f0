"""Payments and documents on the site: Stripe Checkout, the webhook, PDFs, saved cards."""

from flask import Blueprint

bp = Blueprint("payments", __name__)


@bp.record_once
def _template_helpers(state) -> None:
    from ..services import invoices  # noqa: F401  (installs the issued-invoice guard)
    from ..services.payments import summary_for

    state.app.jinja_env.globals["payment_summary"] = summary_for


from . import routes  # noqa: E402,F401
