"""Customers: walk-in accounts, password resets, deactivation, and one customer's history."""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, g
from flask_admin import expose
from flask_admin.actions import action
from flask_login import current_user
from markupsafe import Markup
from wtforms import StringField

from ..domain_errors import DomainError
from ..extensions import db
from ..formatting import local_time
from ..models import Message, Payment, Role, ServiceRequest, User
from ..services import accounts, profiles, staff
from .base import SecuredModelView, snapshot


def _name_link(view, context, model, name):
    url = view.get_url(".customer_page", user_id=model.id)
    return Markup('<a href="{}">{}</a>').format(url, model.full_name)


class CustomerView(SecuredModelView):
    """Customer accounts. A walk-in gets an account and a set-password link by email."""

    can_delete = False
    can_view_details = False
    can_export = True
    column_list = ("full_name", "email", "phone", "active", "created_at", "last_login_at")
    column_searchable_list = ("full_name", "email", "customer_profile.phone")
    search_hint = "name, email or phone"
    column_sortable_list = ("full_name", "email", "active", "created_at", "last_login_at")
    column_default_sort = ("created_at", True)
    column_filters = ("active",)
    column_formatters = {
        "full_name": _name_link,
        "phone": lambda v, c, m, n: (m.customer_profile.phone if m.customer_profile else "") or "",
        "created_at": lambda v, c, m, n: local_time(m.created_at),
        "last_login_at": lambda v, c, m, n: local_time(m.last_login_at),
    }
    column_formatters_export = {"full_name": lambda v, c, m, n: m.full_name}
    form_columns = ("full_name", "email", "phone")
    form_extra_fields = {"phone": StringField("Phone")}
    # The email is the login: it is set at creation and changed by the customer themself.

    def __init__(self, **kwargs):
        super().__init__(User, **kwargs)

    def get_query(self):
        return super().get_query().filter(User.role == Role.CUSTOMER)

    def get_count_query(self):
        return super().get_count_query().filter(User.role == Role.CUSTOMER)

    def edit_form(self, obj=None):
        # The email is the login: set at creation, changed later by the customer themself.
        form = super().edit_form(obj)
        del form.email
        return form

    def on_form_prefill(self, form, id):
        user = self.get_one(id)
        form.phone.data = user.customer_profile.phone if user.customer_profile else ""

    def create_model(self, form):
        try:
            user = accounts.create_user(
                email=form.email.data or "",
                password=None,
                full_name=form.full_name.data or "",
                phone=form.phone.data or None,
                actor=current_user,
            )
            accounts.send_password_reset(user, welcome=True)
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            for field, problems in (exc.fields or {}).items():
                flash(f"{field}: {' '.join(problems)}", "error")
            return False
        self.after_model_change(form, user, True)
        flash(f"A set-password link was sent to {user.email}.", "success")
        return user

    def update_model(self, form, model) -> bool:
        g.admin_before = snapshot(model)
        try:
            profiles.update_profile(
                model, current_user, full_name=form.full_name.data, phone=form.phone.data or None
            )
            db.session.commit()
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return False
        self.after_model_change(form, model, False)
        return True

    @action("reset_password", "Send password reset")
    def action_reset_password(self, ids):
        self.run_each(
            ids,
            "reset_password",
            lambda u: staff.send_password_reset(current_user, u),
            "Reset link sent",
            label=lambda u: u.email,
        )

    @action("deactivate", "Deactivate", "Deactivate the selected accounts? They are logged out.")
    def action_deactivate(self, ids):
        self.run_each(
            ids,
            "deactivate",
            lambda u: staff.deactivate_account(current_user, u),
            "Deactivated",
            label=lambda u: u.email,
        )

    @action("reactivate", "Reactivate")
    def action_reactivate(self, ids):
        self.run_each(
            ids,
            "reactivate",
            lambda u: staff.reactivate_account(current_user, u),
            "Reactivated",
            label=lambda u: u.email,
        )

    @expose("/view/<int:user_id>")
    def customer_page(self, user_id: int):
        user = self.get_one(user_id)
        requests = db.session.scalars(
            sa.select(ServiceRequest)
            .where(ServiceRequest.customer_id == user.id)
            .order_by(ServiceRequest.created_at.desc())
        ).all()
        payments = db.session.scalars(
            sa.select(Payment)
            .where(Payment.customer_id == user.id)
            .options(sa.orm.joinedload(Payment.service_request))
            .order_by(Payment.id.desc())
        ).all()
        messages = db.session.scalars(
            sa.select(Message)
            .join(ServiceRequest, Message.service_request_id == ServiceRequest.id)
            .where(ServiceRequest.customer_id == user.id)
            .options(
                sa.orm.contains_eager(Message.service_request), sa.orm.joinedload(Message.sender)
            )
            .order_by(Message.created_at.desc())
            .limit(100)
        ).all()
        return self.render(
            "admin/customers/detail.html",
            customer=user,
            requests=requests,
            payments=payments,
            messages=messages,
        )
