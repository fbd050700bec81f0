"""Read-only records: the audit log (super admins) and failed notifications (admins).

Neither shows a live reset or tracking link: notification bodies are stored with placeholders
(``services.secret_links``), and what is shown goes through ``secret_links.readable``, which
also masks links in rows written before that rule.
"""

from __future__ import annotations

import json

from flask_admin.actions import action
from flask_admin.contrib.sqla.filters import FilterEqual, FilterLike
from flask_login import current_user

from ..formatting import local_time
from ..labels import CHANNEL, NOTIFICATION_STATE, describe, fallback, formatter
from ..models import AuditLog, Notification, NotificationStatus
from ..services import notifications, secret_links
from .base import SUPERADMIN, SecuredModelView
from .filters import IntEqualFilter


class AuditLogView(SecuredModelView):
    """Who did what, browsable and exportable; nobody can change it here."""

    access = SUPERADMIN
    can_create = False
    can_edit = False
    can_delete = False
    can_export = True
    column_list = (
        "created_at",
        "actor",
        "action",
        "object_type",
        "object_id",
        "before",
        "after",
        "ip",
    )
    column_default_sort = ("id", True)
    column_formatters = {
        "created_at": lambda v, c, m, n: local_time(m.created_at),
        "actor": lambda v, c, m, n: m.actor.email if m.actor else "",
        "before": lambda v, c, m, n: _readable_values(m.object_type, m.before),
        "after": lambda v, c, m, n: _readable_values(m.object_type, m.after),
    }
    # The export keeps the machine values (JSON) for spreadsheets and scripts.
    column_formatters_export = {
        **column_formatters,
        "before": lambda v, c, m, n: _readable_json(m.before),
        "after": lambda v, c, m, n: _readable_json(m.after),
    }
    column_searchable_list = ("action", "object_type", "object_id")
    search_hint = "action, kind of record or record id"

    def __init__(self, **kwargs):
        self.column_filters = [
            FilterLike(AuditLog.action, "Action"),
            FilterEqual(AuditLog.object_type, "Object type"),
            IntEqualFilter(AuditLog.actor_id, "Actor id"),
        ]
        super().__init__(AuditLog, **kwargs)

    # Reading the log is not a change: no audit entries for it.
    def after_model_change(self, form, model, is_created):  # pragma: no cover - cannot edit
        return None


def _readable_values(object_type: str, values) -> str:
    """An audit entry's values in people's words (labels, money), any secret link masked."""
    if values is None:
        return ""
    return secret_links.readable(describe(object_type, values))


def _readable_json(values) -> str:
    """An audit entry's values as text, with any secret link masked."""
    if values is None:
        return ""
    return secret_links.readable(json.dumps(values, ensure_ascii=False, default=str))


class FailedNotificationView(SecuredModelView):
    """Notifications that could not be delivered, with why; an admin can queue them again."""

    can_create = False
    can_edit = False
    can_delete = False
    can_export = False
    column_list = (
        "created_at",
        "event",
        "channel",
        "recipient",
        "subject",
        "attempts",
        "last_error",
        "service_request_id",
    )
    # The details page shows the message as staff may read it: links as "[password link]",
    # never the row's context or dedup key.
    column_details_list = (
        "created_at",
        "event",
        "channel",
        "recipient",
        "subject",
        "body",
        "status",
        "attempts",
        "last_error",
        "sent_at",
        "service_request_id",
    )
    column_default_sort = ("id", True)
    column_formatters = {
        "created_at": lambda v, c, m, n: local_time(m.created_at),
        "sent_at": lambda v, c, m, n: local_time(m.sent_at),
        "subject": lambda v, c, m, n: secret_links.readable(m.subject),
        "body": lambda v, c, m, n: secret_links.readable(m.body),
        "last_error": lambda v, c, m, n: secret_links.readable(m.last_error or ""),
        "event": lambda v, c, m, n: fallback(m.event),
        "channel": formatter(CHANNEL, "channel"),
        "status": formatter(NOTIFICATION_STATE, "status"),
    }
    column_labels = {"body": "Message", "last_error": "Why it failed"}
    column_searchable_list = ("recipient", "subject", "event")
    search_hint = "recipient, subject or event"

    def __init__(self, **kwargs):
        super().__init__(Notification, **kwargs)

    def get_query(self):
        return super().get_query().filter(Notification.status == NotificationStatus.FAILED)

    def get_count_query(self):
        return super().get_count_query().filter(Notification.status == NotificationStatus.FAILED)

    @action("resend", "Resend")
    def action_resend(self, ids):
        """Queue the selected notifications again."""
        self.run_each(
            ids,
            "resend",
            lambda n: notifications.resend(n.id, current_user),
            "Queued again",
            label=lambda n: f"Notification {n.id}",
        )
