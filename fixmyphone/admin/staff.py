"""Staff: technician and admin accounts (through services.staff), shifts, time off, workload."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, flash, g
from flask_admin import expose
from flask_admin.actions import action
from flask_login import current_user
from wtforms import DateTimeLocalField, SelectField, StringField
from wtforms.validators import DataRequired

from .. import workflow
from ..domain_errors import DomainError, ValidationFailed
from ..extensions import db
from ..formatting import local_time
from ..models import (
    STAFF_ROLES,
    Role,
    ServiceRequest,
    Shift,
    TechnicianProfile,
    TimeOff,
    User,
    utcnow,
)
from ..services import reports, staff
from .base import ADMIN, SUPERADMIN, SecuredModelView, SecuredPage, snapshot


class StaffAccountsBase(SecuredModelView):
    """Staff accounts of some roles; every change goes through services.staff."""

    roles: tuple[str, ...] = STAFF_ROLES
    can_export = True
    column_list = ("full_name", "email", "role", "active", "skills", "last_login_at")
    column_searchable_list = ("full_name", "email")
    search_hint = "name or email"
    column_filters = ("role", "active")
    column_sortable_list = ("full_name", "email", "role", "active", "last_login_at")
    column_formatters = {
        "role": lambda v, c, m, n: staff.role_label(m.role),
        "skills": lambda v, c, m, n: m.technician_profile.skills if m.technician_profile else "",
        "last_login_at": lambda v, c, m, n: _last_login(m),
    }
    form_columns = ("full_name", "email", "role", "skills")
    form_extra_fields = {
        "role": SelectField("Role", choices=[(r, staff.role_label(r)) for r in STAFF_ROLES]),
        "skills": StringField("Skills (comma separated)"),
    }

    def __init__(self, **kwargs):
        super().__init__(User, **kwargs)

    def get_query(self):
        return super().get_query().filter(User.role.in_(self.roles))

    def get_count_query(self):
        return super().get_count_query().filter(User.role.in_(self.roles))

    def _limit_roles(self, form):
        allowed = [r for r in staff.manageable_roles(current_user) if r in self.roles]
        form.role.choices = [(r, staff.role_label(r)) for r in allowed]
        return form

    def create_form(self, obj=None):
        form = self._limit_roles(super().create_form(obj))
        hours = staff.invitation_hours()
        form.email.description = (
            "We'll e-mail them a link to set their password; it expires in "
            f"{hours} hour{'' if hours == 1 else 's'}."
        )
        return form

    def edit_form(self, obj=None):
        return self._limit_roles(super().edit_form(obj))

    def on_form_prefill(self, form, id):
        user = self.get_one(id)
        form.role.choices = sorted({*form.role.choices, (user.role, staff.role_label(user.role))})
        form.role.data = user.role
        form.skills.data = user.technician_profile.skills if user.technician_profile else ""

    def _service(self, fn) -> bool:
        try:
            fn()
            db.session.commit()
            return True
        except DomainError as exc:
            db.session.rollback()
            flash(exc.message, "error")
            return False

    def _set_skills(self, user: User, skills: str | None) -> None:
        if user.role == Role.TECHNICIAN:
            if user.technician_profile is None:
                user.technician_profile = TechnicianProfile()
            user.technician_profile.skills = (skills or "").strip()[:500] or None

    def create_model(self, form):
        created: list[User] = []

        def make():
            user = staff.create_staff(
                current_user,
                email=form.email.data or "",
                full_name=form.full_name.data or "",
                role=form.role.data,
                skills=form.skills.data,
            )
            created.append(user)

        if not self._service(make):
            return False
        self.after_model_change(form, created[0], True)
        flash(f"Invitation sent to {created[0].email}.", "success")
        return created[0]

    def update_model(self, form, model) -> bool:
        g.admin_before = snapshot(model)

        def change():
            staff.update_staff(
                current_user, model, full_name=form.full_name.data, email=form.email.data
            )
            if form.role.data and form.role.data != model.role:
                staff.change_role(current_user, model, form.role.data)
            self._set_skills(model, form.skills.data)

        if not self._service(change):
            return False
        self.after_model_change(form, model, False)
        return True

    def delete_model(self, model) -> bool:
        self.on_model_delete(model)
        if not self._service(lambda: staff.delete_staff(current_user, model)):
            return False
        self.after_model_delete(model)
        return True

    @action("deactivate", "Deactivate", "Deactivate the selected accounts? They are logged out.")
    def action_deactivate(self, ids):
        self.run_each(
            ids,
            "deactivate",
            lambda u: staff.deactivate_staff(current_user, u),
            "Deactivated",
            label=lambda u: u.email,
        )

    @action("reactivate", "Reactivate")
    def action_reactivate(self, ids):
        self.run_each(
            ids,
            "reactivate",
            lambda u: staff.reactivate_staff(current_user, u),
            "Reactivated",
            label=lambda u: u.email,
        )

    @action("reset_password", "Send password reset")
    def action_reset_password(self, ids):
        self.run_each(
            ids,
            "reset_password",
            lambda u: staff.send_password_reset(current_user, u),
            "Reset link sent",
            label=lambda u: u.email,
        )

    @action(
        "resend_invitation",
        "Resend invitation",
        "Send a new set-password link? The links sent before stop working.",
    )
    def action_resend_invitation(self, ids):
        self.run_each(
            ids,
            "resend_invitation",
            lambda u: staff.resend_invitation(current_user, u),
            "Invitation sent",
            label=lambda u: u.email,
        )


def _last_login(user: User) -> str:
    if user.last_login_at is None and staff.is_invited(user):
        return "Not yet: invited, no password set"
    return local_time(user.last_login_at)


class TechnicianAccountsView(StaffAccountsBase):
    """Admins manage technicians: accounts and skills."""

    access = ADMIN
    roles = (Role.TECHNICIAN,)


class StaffAccountsView(StaffAccountsBase):
    """Super admins manage every staff account and role."""

    access = SUPERADMIN


def _technician_label(profile: TechnicianProfile) -> str:
    return profile.user.full_name if profile is not None else "—"


class ShiftView(SecuredModelView):
    """Weekly shifts (shop-local times); they feed the slot engine."""

    column_list = ("technician", "weekday", "starts_at", "ends_at")
    column_formatters = {
        "technician": lambda v, c, m, n: _technician_label(m.technician),
        "weekday": lambda v, c, m, n: ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")[m.weekday],
    }
    column_default_sort = "weekday"
    form_columns = ("technician", "weekday", "starts_at", "ends_at")
    form_args = {"technician": {"get_label": lambda p: p.user.full_name}}

    def __init__(self, **kwargs):
        super().__init__(Shift, **kwargs)


LOCAL_INPUT_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M"]


class TimeOffView(SecuredModelView):
    """Holidays and sick leave; a technician away frees no slots."""

    column_list = ("technician", "starts", "ends", "reason")
    column_formatters = {
        "technician": lambda v, c, m, n: _technician_label(m.technician),
        "starts": lambda v, c, m, n: local_time(m.starts),
        "ends": lambda v, c, m, n: local_time(m.ends),
    }
    form_columns = ("technician", "starts", "ends", "reason")
    form_args = {"technician": {"get_label": lambda p: p.user.full_name}}
    # UTC-aware columns are not scaffolded: typed here in shop-local wall-clock time, with the
    # browser's own date-and-time picker (the first format is what the picker reads and sends).
    form_extra_fields = {
        "starts": DateTimeLocalField(
            "Starts (shop time)", format=LOCAL_INPUT_FORMATS, validators=[DataRequired()]
        ),
        "ends": DateTimeLocalField(
            "Ends (shop time)", format=LOCAL_INPUT_FORMATS, validators=[DataRequired()]
        ),
    }

    def __init__(self, **kwargs):
        super().__init__(TimeOff, **kwargs)

    def on_model_change(self, form, model, is_created):
        # The form gives shop-local wall-clock times; store them as UTC.
        tz = ZoneInfo(current_app.config["SHOP_TIMEZONE"])
        for name in ("starts", "ends"):
            value = getattr(model, name)
            if value is not None and value.tzinfo is None:
                setattr(model, name, value.replace(tzinfo=tz).astimezone(ZoneInfo("UTC")))
        if model.starts and model.ends and model.ends <= model.starts:
            raise ValidationFailed("Time off must end after it starts.")

    def on_form_prefill(self, form, id):
        tz = ZoneInfo(current_app.config["SHOP_TIMEZONE"])
        for name in ("starts", "ends"):
            field = getattr(form, name)
            if field.data is not None and field.data.tzinfo is not None:
                field.data = field.data.astimezone(tz).replace(tzinfo=None)


class WorkloadView(SecuredPage):
    """Open repairs per technician by status, and each one's average turnaround."""

    @expose("/")
    def index(self):
        open_rows = db.session.execute(
            sa.select(ServiceRequest.technician_id, ServiceRequest.status, sa.func.count())
            .where(ServiceRequest.status.not_in(workflow.FINAL_STATUSES))
            .group_by(ServiceRequest.technician_id, ServiceRequest.status)
        ).all()
        since = utcnow() - timedelta(days=90)
        seconds = reports._seconds_between(  # noqa: SLF001
            ServiceRequest.checked_in_at, ServiceRequest.ready_at
        )
        turnaround = dict(
            db.session.execute(
                sa.select(ServiceRequest.technician_id, sa.func.avg(seconds))
                .where(ServiceRequest.ready_at >= since, ServiceRequest.checked_in_at.is_not(None))
                .group_by(ServiceRequest.technician_id)
            ).all()
        )
        technicians = db.session.scalars(
            sa.select(User).where(User.role == Role.TECHNICIAN).order_by(User.full_name)
        ).all()
        board: dict = {t.id: {} for t in technicians}
        board[None] = {}
        statuses = [s for s in workflow.STATUSES if s not in workflow.FINAL_STATUSES]
        for tech_id, status, count in open_rows:
            board.setdefault(tech_id, {})[status] = count
        return self.render(
            "admin/workload.html",
            technicians=technicians,
            board=board,
            statuses=statuses,
            turnaround={k: round(float(v) / 3600, 1) for k, v in turnaround.items() if v},
        )
