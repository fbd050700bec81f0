"""Payments and documents on the site: Stripe Checkout, the webhook, PDFs, saved cards.

Only the pages live here; the money rules are in ``services/billing``.
"""

from flask import Blueprint

from ..services.billing.stripe_gateway import stripe_enabled

bp = Blueprint("payments", __name__)


@bp.record_once
def _template_helpers(state) -> None:
    # Pages offer "Pay now" only when the shop has connected Stripe; otherwise pay at pickup.
    state.app.jinja_env.globals["online_payments"] = stripe_enabled


from . import routes  # noqa: E402,F401
