"""Account pages."""

from __future__ import annotations

from flask import current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required, login_user, logout_user

from ..domain_errors import DomainError
from ..extensions import db, limiter
from ..security import safe_next
from ..services import accounts, logins
from . import bp
from .forms import ForgotPasswordForm, LoginForm, RegisterForm, ResetPasswordForm


def home_for(user) -> str:
    """Where a user lands after logging in."""
    if user.is_staff:
        return url_for("admin.index")
    return url_for("public.account")


def _login_limit() -> str:
    return current_app.config["LOGIN_RATE_LIMIT"]


def _login_failed(_response) -> bool:
    # Only failed attempts count towards the per-address limit: a shop's staff share one IP.
    return bool(g.get("login_failed"))


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_login_failed)
def login():
    """Log in with email and password (limits: per address here, per account in services)."""
    if current_user.is_authenticated:
        return redirect(safe_next(home_for(current_user)))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = logins.log_in(form.email.data, form.password.data, request.remote_addr)
        except logins.LoginDelayed as exc:
            flash(exc.message, "error")
            headers = {"Retry-After": str(exc.retry_after)}
            return render_template("auth/login.html", form=form), 429, headers
        if user is None:
            g.login_failed = True
            flash("Wrong email or password, or the account is deactivated.", "error")
        else:
            db.session.commit()
            session.clear()
            login_user(user, remember=form.remember.data)
            return redirect(safe_next(home_for(user)))
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout():
    """Log out, on the server too: copies of this session or remember-me cookie stop working."""
    accounts.end_browser_sessions(current_user._get_current_object())
    db.session.commit()
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("public.index"))


@bp.route("/register", methods=["GET", "POST"])
@limiter.limit("20 per hour", methods=["POST"])
def register():
    """Create a customer account."""
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(
                email=form.email.data,
                password=form.password.data,
                full_name=form.full_name.data,
                phone=form.phone.data,
            )
        except DomainError as exc:
            for name, messages in (exc.fields or {}).items():
                getattr(form, name, form.email).errors.extend(messages)
            if not exc.fields:
                flash(exc.message, "error")
        else:
            db.session.commit()
            login_user(user)
            flash("Welcome! Your account is ready.", "success")
            return redirect(safe_next(url_for("public.account")))
    return render_template("auth/register.html", form=form)


@bp.route("/forgot", methods=["GET", "POST"])
@limiter.limit("5 per minute", methods=["POST"])
def forgot_password():
    """Ask for a password reset link."""
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        accounts.request_password_reset(form.email.data)
        db.session.commit()
        flash("If an account exists for that email, a reset link is on its way.", "info")
        return redirect(url_for("auth.login"))
    return render_template("auth/forgot.html", form=form)


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """Set a new password from an emailed link (a first one, from an invitation)."""
    user = accounts.user_for_reset_token(token)
    if user is None:
        flash("This reset link is invalid, expired or already used. Ask for a new one.", "error")
        return redirect(url_for("auth.forgot_password"))
    first = not accounts.has_usable_password(user)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.reset_password(token, form.password.data)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            db.session.commit()
            logout_user()
            if first:
                flash("Your password is set. Log in with it.", "success")
            else:
                flash("Your password is changed. Log in with the new one.", "success")
            return redirect(url_for("auth.login"))
    return render_template("auth/reset.html", form=form, token=token, first=first, person=user)
