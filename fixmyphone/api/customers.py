"""Customer accounts and profiles."""

from __future__ import annotations

from flask import current_app

from ..domain_errors import NotFound
from ..extensions import db, limiter
from ..models import Role, User
from ..services import accounts, profiles, repairs
from .base import Blueprint, caller
from .schemas import CreateCustomerSchema, CustomerSchema, ProfileSchema, ProfileUpdateSchema

blp = Blueprint("api-customers", __name__, url_prefix="/api", description="Customers.")

CUSTOMER_ID = "<id:customer_id>"


def _signup_limit() -> str:
    return current_app.config["API_SIGNUP_RATE_LIMIT"]


@blp.route("/user/create-customer", methods=["POST"])
@limiter.limit(_signup_limit)
@blp.arguments(CreateCustomerSchema)
@blp.response(201, CustomerSchema)
@blp.errors(400, 409, 413, 429)
def create_customer(args):
    """Sign up a customer. An email already registered (any case) answers 409."""
    user = accounts.create_user(
        email=args["email"],
        password=args["password"],
        full_name=args["full_name"],
        phone=args.get("phone"),
    )
    db.session.commit()
    return {
        "id": user.id,
        "email": user.email,
        "full_name": user.full_name,
        "phone": user.customer_profile.phone if user.customer_profile else None,
        "role": user.role,
        "created_at": user.created_at,
    }


def customer_for(customer_id: int) -> User:
    """A customer the caller may see (``repairs.customer_visible``: themself; admins anyone; a
    technician the customers of their assigned repairs); else 404, as for one that is missing.
    A staff account is never a customer here: its id answers 404 too."""
    me = caller()
    user = db.session.get(User, customer_id) if customer_id else None
    if user is None or user.role != Role.CUSTOMER or not repairs.customer_visible(me, user):
        raise NotFound("No such customer.")
    return user


@blp.route(f"/customer/{CUSTOMER_ID}/profile", methods=["GET"])
@blp.authenticated
@blp.response(200, ProfileSchema)
@blp.errors(404)
def get_profile(customer_id):
    """A customer's profile (the customer themself, an admin, or a technician working on one of
    their repairs)."""
    return profiles.profile_dict(customer_for(customer_id))


@blp.route(f"/customer/{CUSTOMER_ID}/profile", methods=["PUT"])
@blp.authenticated
@blp.arguments(ProfileUpdateSchema)
@blp.response(200, ProfileSchema)
@blp.errors(400, 404, 413)
def update_profile(args, customer_id):
    """Change any of the profile fields (whoever may read the profile); answers the whole
    profile."""
    user = customer_for(customer_id)
    profiles.update_profile(user, caller(), **args)
    db.session.commit()
    return profiles.profile_dict(user)
