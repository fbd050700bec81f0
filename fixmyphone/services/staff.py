"""Who may change which account, and staff accounts: create, change, deactivate, delete.

``may_manage`` is the one rule for changing any account (profile, password reset, activation,
role), from every view and endpoint: a super admin account only by a super admin; admins
manage customers and technicians; super admins everyone. Nobody raises their own role, and the
last active super admin can be neither demoted, deactivated nor deleted.
"""

from __future__ import annotations

from typing import Optional

import sqlalchemy as sa
from flask import current_app

from ..domain_errors import Conflict, Forbidden, ValidationFailed
from ..extensions import db
from ..labels import ROLE, label
from ..models import (
    STAFF_ROLES,
    Appointment,
    AuditLog,
    Message,
    Payment,
    Role,
    ServiceRequest,
    StatusChange,
    StockMovement,
    TechnicianProfile,
    User,
    normalise_email,
)
from . import accounts, audit, repairs

RANK = {Role.CUSTOMER: 0, Role.TECHNICIAN: 1, Role.ADMIN: 2, Role.SUPERADMIN: 3}


def role_label(role: str) -> str:
    """A role in people's words: 'superadmin' -> 'Super admin'."""
    return label(ROLE, role)


def manageable_roles(actor: User) -> tuple[str, ...]:
    """The staff roles an actor may create or assign."""
    if actor.is_superadmin:
        return STAFF_ROLES
    if actor.role == Role.ADMIN:
        return (Role.TECHNICIAN,)
    return ()


def may_manage(actor: Optional[User], target: User) -> bool:
    """Whether ``actor`` may change ``target``'s account: its profile, password (a reset they
    trigger), activation or role. Everyone their own; a super admin account only a super admin;
    a customer the staff who may see them (``repairs.customer_visible``); a staff account an
    admin (technicians) or a super admin (every role)."""
    if actor is None or not actor.is_authenticated or not actor.active:
        return False
    if target.id == actor.id:
        return True
    if target.role == Role.SUPERADMIN:
        return actor.is_superadmin
    if target.role == Role.CUSTOMER:
        return actor.is_staff and repairs.customer_visible(actor, target)
    return target.role in manageable_roles(actor)


def check_may_manage(actor: Optional[User], target: User) -> None:
    """Raise Forbidden unless ``may_manage(actor, target)``."""
    if not may_manage(actor, target):
        if target.role == Role.SUPERADMIN:
            raise Forbidden("Only a super admin can change a super admin.")
        raise Forbidden(f"You cannot manage {target.role} accounts.")


def send_password_reset(actor: User, target: User) -> None:
    """A reset link someone else asked for on ``target``'s behalf (staff, from the back office)."""
    check_may_manage(actor, target)
    accounts.send_password_reset(target)
    audit.record(actor, "password_reset_sent", target)


def deactivate_account(actor: User, target: User) -> None:
    """Lock any account ``actor`` may manage (not oneself, not the last super admin)."""
    check_may_manage(actor, target)
    if target.id == actor.id:
        raise Conflict("You cannot deactivate your own account.")
    _check_not_last_superadmin(target)
    accounts.deactivate(target, actor)


def reactivate_account(actor: User, target: User) -> None:
    """Unlock any account ``actor`` may manage."""
    check_may_manage(actor, target)
    accounts.reactivate(target, actor)


def check_can_manage(actor: User, target: Optional[User], role: Optional[str] = None) -> None:
    """Raise Forbidden unless ``actor`` may manage staff, ``target`` (``may_manage``) and give
    it ``role``."""
    allowed = manageable_roles(actor)
    if not allowed:
        raise Forbidden("Only admins manage staff accounts.")
    if target is not None:
        check_may_manage(actor, target)
        if target.id != actor.id and target.role not in allowed:
            raise Forbidden(f"You cannot manage {target.role} accounts.")
    if role is not None:
        if role not in STAFF_ROLES:
            raise ValidationFailed("Choose a staff role.", fields={"role": ["Unknown role."]})
        if role not in allowed:
            raise Forbidden(f"You cannot give the {role} role.")
        if target is not None and target.id == actor.id and RANK[role] > RANK[actor.role]:
            raise Forbidden("You cannot raise your own role.")


def _active_superadmins() -> int:
    return int(
        db.session.scalar(
            sa.select(sa.func.count(User.id)).where(User.role == Role.SUPERADMIN, User.active)
        )
        or 0
    )


def _check_not_last_superadmin(target: User) -> None:
    if target.role == Role.SUPERADMIN and target.active and _active_superadmins() <= 1:
        raise Conflict("This is the last super admin; appoint another one first.")


def create_staff(
    actor: User,
    *,
    email: str,
    full_name: str,
    role: str,
    password: Optional[str] = None,
    skills: Optional[str] = None,
) -> User:
    """Create a staff account. Without a password it gets an unusable one, and the person an
    invitation: an e-mail with a link to set theirs (expiring, single use)."""
    check_can_manage(actor, None, role)
    user = accounts.create_user(
        email=email, password=password, full_name=full_name, role=role, actor=actor
    )
    if role == Role.TECHNICIAN:
        user.technician_profile = TechnicianProfile(skills=(skills or "").strip() or None)
    db.session.flush()
    if password is None:
        _invite(user)
    return user


def invitation_hours() -> int:
    """How many hours an invitation's set-password link works (a reset link's lifetime)."""
    return max(int(current_app.config["PASSWORD_RESET_MAX_AGE"]) // 3600, 1)


def is_invited(user: User) -> bool:
    """True while a staff member has not chosen a password yet."""
    return user.role in STAFF_ROLES and not accounts.has_usable_password(user)


def _invite(user: User) -> None:
    # A new unusable password first: the set-password link is bound to the stored hash, so
    # every link sent before this one stops working.
    accounts.set_unusable_password(user)
    shop = current_app.config["SHOP_NAME"]
    accounts.send_password_reset(
        user,
        welcome=True,
        intro=(
            f"{shop} opened a back-office account for you ({role_label(user.role)}). Choose the "
            "password you will use to log in here:"
        ),
    )


def resend_invitation(actor: User, target: User) -> None:
    """Send a staff member who has not set a password yet a new invitation; the links sent
    before stop working. Someone with a password gets a password reset instead (resending
    must never lock a person out of an account they use)."""
    check_can_manage(actor, target)
    if target.role not in STAFF_ROLES:
        raise Forbidden("Invitations are for staff accounts.")
    if accounts.has_usable_password(target):
        raise Conflict(
            f"{target.full_name} has already set a password; send a password reset instead."
        )
    if not target.active:
        raise Conflict(f"{target.full_name}'s account is deactivated; reactivate it first.")
    _invite(target)
    audit.record(actor, "invitation_sent", target)


def change_role(actor: User, target: User, role: str) -> None:
    """Give a staff member another role (technician profiles appear as needed)."""
    check_can_manage(actor, target, role)
    if target.role == role:
        return
    if target.role == Role.SUPERADMIN:
        _check_not_last_superadmin(target)
    before = {"role": target.role}
    target.role = role
    if role == Role.TECHNICIAN and target.technician_profile is None:
        target.technician_profile = TechnicianProfile()
    # A changed role must take effect now: end existing sessions and tokens, web and API.
    accounts.end_sessions(target)
    audit.record(actor, "role_changed", target, before=before, after={"role": role})


def update_staff(actor: User, target: User, *, full_name: str, email: str) -> None:
    """Change a staff member's name or email."""
    check_can_manage(actor, target)
    email_n = normalise_email(email)
    if not accounts.EMAIL_RE.match(email_n):
        raise ValidationFailed("Enter a valid email address.", fields={"email": ["Invalid."]})
    other = accounts.find_by_email(email_n)
    if other is not None and other.id != target.id:
        raise Conflict("An account with this email already exists.")
    if not (full_name or "").strip():
        raise ValidationFailed("A name is required.", fields={"full_name": ["Required."]})
    before = {"full_name": target.full_name, "email": target.email}
    target.full_name, target.email = full_name.strip()[:120], email_n
    audit.record(actor, "staff_updated", target, before=before, after={"email": email_n})


def deactivate_staff(actor: User, target: User) -> None:
    """Lock a staff account (not the last super admin, not oneself)."""
    check_can_manage(actor, target)
    deactivate_account(actor, target)


def reactivate_staff(actor: User, target: User) -> None:
    """Unlock a staff account."""
    check_can_manage(actor, target)
    reactivate_account(actor, target)


def delete_staff(actor: User, target: User) -> None:
    """Delete a staff account that has no history; one with history must be deactivated."""
    check_can_manage(actor, target)
    if target.id == actor.id:
        raise Conflict("You cannot delete your own account.")
    _check_not_last_superadmin(target)
    references = (
        (ServiceRequest.technician_id, "repairs"),
        (StatusChange.actor_id, "status changes"),
        (Message.sender_id, "messages"),
        (Appointment.technician_id, "appointments"),
        (Payment.recorded_by_id, "payments"),
        (StockMovement.actor_id, "stock movements"),
        (AuditLog.actor_id, "audit entries"),
    )
    for column, what in references:
        if db.session.scalar(sa.select(sa.func.count()).where(column == target.id)):
            raise Conflict(f"{target.full_name} has {what} on record; deactivate instead.")
    audit.record(
        actor, "staff_deleted", target, before={"email": target.email, "role": target.role}
    )
    db.session.delete(target)
