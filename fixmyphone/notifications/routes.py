"""The user's in-app notifications (customers and staff alike)."""

from __future__ import annotations

from flask import jsonify, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from ..extensions import db
from ..services import in_app, messages, notifications, secret_links
from . import bp

PER_PAGE = 20


@bp.app_context_processor
def bell_globals():
    """``notification_unread_count()`` for the bell partials (0 for anonymous visitors)."""

    def notification_unread_count() -> int:
        if not current_user.is_authenticated:
            return 0
        return messages.unread_in_header(current_user).notifications

    return {"notification_unread_count": notification_unread_count}


@bp.app_template_filter("notification_text")
def notification_text(text: str) -> str:
    """A stored notification text as people read it in the app: "[tracking link]" for a
    placeholder (the Open button follows the link itself)."""
    return secret_links.readable(text)


@bp.get("/")
@login_required
def index():
    """The user's in-app notifications, newest first."""
    page = db.paginate(in_app.in_app_for(current_user), per_page=PER_PAGE, error_out=False)
    links = {row.id: in_app.link_for(row) for row in page.items}
    return render_template(
        "notifications/index.html",
        page=page,
        links=links,
        unread=in_app.unread_count(current_user),
    )


@bp.post("/<int:notification_id>/read")
@login_required
def mark_read(notification_id: int):
    """Mark one notification read; ``open`` also follows its link."""
    in_app.mark_read(current_user, notification_id)
    db.session.commit()
    if request.form.get("open"):
        row = db.session.get(notifications.Notification, notification_id)
        link = in_app.link_for(row)
        if link:
            return redirect(link)
    return redirect(url_for(".index", page=request.args.get("page", type=int) or None))


@bp.post("/read-all")
@login_required
def mark_all_read():
    """Mark every notification of the user read."""
    in_app.mark_read(current_user)
    db.session.commit()
    return redirect(url_for(".index"))


@bp.get("/unread-count")
def unread_count():
    """``{"unread": n}`` for the bell's script (401 JSON when not logged in)."""
    if not current_user.is_authenticated:
        return jsonify(
            {"error": {"code": "unauthorized", "message": "Log in to see notifications."}}
        ), 401
    response = jsonify({"unread": in_app.unread_count(current_user)})
    response.headers["Cache-Control"] = "no-store"
    return response
