"""Channels follow each customer's choices and the shop's per-status policy."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from fixmyphone.extensions import db
from fixmyphone.models import CustomerProfile, Notification, ShopSettings
from fixmyphone.services import notifications
from fixmyphone.workflow import move_status

from ..factories import CustomerFactory, ServiceRequestFactory, UserFactory


@pytest.mark.parametrize(
    ("profile", "event", "expected"),
    [
        ({}, "status_changed", ["email", "in_app"]),
        ({"notify_sms": True}, "status_changed", ["email", "sms", "in_app"]),
        ({"notify_sms": True, "phone": None}, "status_changed", ["email", "in_app"]),
        ({"notify_email": False}, "quote_sent", ["in_app"]),
        ({"notify_in_app": False, "notify_email": False}, "quote_sent", []),
        ({"notification_prefs": {"quote_sent": {"email": False}}}, "quote_sent", ["in_app"]),
        (
            {"notification_prefs": {"quote_sent": {"email": False}}},
            "status_changed",
            ["email", "in_app"],
        ),
        # One switch covers booked, moved and canceled appointments.
        (
            {"notification_prefs": {"appointment_booked": {"email": False}}},
            "appointment_moved",
            ["in_app"],
        ),
        (
            {"notification_prefs": {"appointment_booked": {"email": False}}},
            "appointment_canceled",
            ["in_app"],
        ),
        (
            {"notify_sms": True, "notification_prefs": {"appointment_reminder": {"sms": False}}},
            "appointment_reminder",
            ["email", "in_app"],
        ),
    ],
)
def test_channels_follow_the_customers_preferences(app, profile, event, expected):
    values = {"phone": "+1 555 0100", **profile}
    customer = CustomerFactory(customer_profile=CustomerProfile(**values))
    assert notifications.channels_for(customer, event) == expected


def test_staff_get_email_and_in_app(app):
    assert notifications.channels_for(UserFactory(role="admin"), "low_stock") == ["email", "in_app"]


def test_the_rows_written_match_the_preferences(app, sent):
    customer = CustomerFactory(
        customer_profile=CustomerProfile(phone="+1 555", notify_sms=True, notify_email=False)
    )
    notifications.notify(customer, "quote_sent", "Q", "B", dedup_key="q")
    db.session.commit()
    written = db.session.scalars(sa.select(Notification)).all()
    assert sorted((r.channel, r.recipient) for r in written) == [
        ("in_app", None),
        ("sms", "+1 555"),
    ]
    assert sent.channels() == ["sms"]


def moves_notified(statuses_setting=None, config_setting=""):
    admin = UserFactory(role="admin")
    if statuses_setting is not None:
        db.session.add(ShopSettings(notify_statuses=statuses_setting))
    request = ServiceRequestFactory()
    for status in ("in_progress", "quality_check", "ready_for_pickup"):
        move_status(request, status, admin)
    db.session.commit()
    return sorted(
        r.context["status"]
        for r in db.session.scalars(sa.select(Notification).filter_by(channel="email"))
    )


def test_every_status_notifies_by_default(app, sent):
    assert moves_notified() == ["in_progress", "quality_check", "ready_for_pickup"]


def test_an_empty_shop_list_means_every_status(app, sent):
    assert moves_notified([]) == ["in_progress", "quality_check", "ready_for_pickup"]


def test_the_shop_chooses_which_statuses_notify(app, sent):
    assert moves_notified(["ready_for_pickup"]) == ["ready_for_pickup"]


def test_the_config_is_the_fallback_policy(app, sent):
    app.config["NOTIFY_STATUSES"] = ["in_progress", "ready_for_pickup"]
    assert moves_notified([]) == ["in_progress", "ready_for_pickup"]


def test_the_shop_setting_wins_over_the_config(app, sent):
    app.config["NOTIFY_STATUSES"] = ["in_progress"]
    assert moves_notified(["quality_check"]) == ["quality_check"]


def test_internal_moves_never_notify(app, sent):
    admin = UserFactory(role="admin")
    request = ServiceRequestFactory()
    move_status(request, "in_progress", admin, "internal", public=False)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == 0
