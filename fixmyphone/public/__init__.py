"""The customer-facing site."""

from flask import Blueprint

bp = Blueprint("public", __name__)

from . import account, appointments, helpers, repair_requests, routes  # noqa: E402,F401
