"""Customer pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import render_template
from flask_login import current_user, login_required

from ..extensions import db
from ..models import OpeningHours, ServiceRequest
from . import bp

WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


@bp.get("/")
def index():
    """Home: what we repair, opening hours, book and track."""
    hours = {h.weekday: h for h in db.session.scalars(sa.select(OpeningHours))}
    return render_template("public/index.html", hours=hours, weekdays=WEEKDAYS)


@bp.get("/account")
@login_required
def account():
    """The customer's repairs."""
    requests = db.session.scalars(
        sa.select(ServiceRequest)
        .where(ServiceRequest.customer_id == current_user.id)
        .order_by(ServiceRequest.created_at.desc())
    ).all()
    return render_template("public/account.html", requests=requests)


@bp.get("/track/<token>")
def track_token(token: str):
    """The private tracking link (no login needed)."""
    request = db.first_or_404(
        sa.select(ServiceRequest).where(ServiceRequest.tracking_token == token)
    )
    return render_template("public/track.html", request=request)
