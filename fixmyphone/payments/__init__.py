"""Payments and documents on the site: Stripe Checkout, the webhook, PDFs, saved cards."""

from flask import Blueprint

bp = Blueprint("payments", __name__)


@bp.record_once
def _template_helpers(state) -> None:
    from ..services.payments import stripe_enabled

    # Pages offer "Pay now" only when the shop has connected Stripe; otherwise pay at pickup.
    state.app.jinja_env.globals["online_payments"] = stripe_enabled


from . import routes  # noqa: E402,F401
