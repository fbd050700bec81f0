"""Development: what the shop sends is printed on the console and listed at /dev/outbox
(issue 14, point 6); in production neither exists and no body is logged."""

from __future__ import annotations

import logging
import re

import pytest
import sqlalchemy as sa

from fixmyphone import create_app, links
from fixmyphone.config import Config, ProductionConfig, TestConfig
from fixmyphone.extensions import db
from fixmyphone.models import Notification
from fixmyphone.services import notifications
from fixmyphone.workflow import move_status

from ..conftest import csrf_token
from ..factories import ServiceRequestFactory, UserFactory


@pytest.fixture
def app_settings():
    return {"DEV_OUTBOX": True, "SMTP_HOST": None, "SMS_PROVIDER": "log"}


def test_a_reset_email_is_printed_in_full_on_the_console(app, client, capsys):
    user = UserFactory(role="superadmin")
    db.session.commit()
    capsys.readouterr()

    token = csrf_token(client, "/account/forgot")
    client.post("/account/forgot", data={"email": user.email, "csrf_token": token})

    out = capsys.readouterr().out
    assert f"To: {user.email}" in out and "Subject: Reset your password" in out
    link = re.search(r"http://shop\.test(/account/reset/\S+)", out)
    assert link, out
    assert client.get(link.group(1)).status_code == 200  # a working link
    row = db.session.scalars(sa.select(Notification)).one()
    assert row.status == "sent" and "/account/reset/" not in row.body


def test_an_sms_is_printed_on_the_console(app, capsys):
    request = ServiceRequestFactory()
    profile = request.customer.customer_profile
    profile.notify_sms, profile.phone = True, "+1 555 0123"
    db.session.commit()
    capsys.readouterr()

    move_status(request, "in_progress", UserFactory(role="admin"), None)
    db.session.commit()

    out = capsys.readouterr().out
    assert "SMS to +1 555 0123" in out
    assert f"http://shop.test/track/{request.tracking_token}" in out


def test_the_dev_outbox_page_lists_recent_messages_with_live_links(app, client):
    request = ServiceRequestFactory()
    user = UserFactory(role="admin")
    db.session.commit()
    token = csrf_token(client, "/account/forgot")
    client.post("/account/forgot", data={"email": user.email, "csrf_token": token})
    move_status(request, "in_progress", user, "Started")
    db.session.commit()

    response = client.get("/dev/outbox")

    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Reset your password" in html and f"{request.reference}: In Progress" in html
    assert re.search(r'href="http://shop\.test/account/reset/[^"]+"', html)
    assert f'href="http://shop.test/track/{request.tracking_token}"' in html
    assert "<script" not in html.split("</main>")[0].split("<main")[1]


def test_the_dev_outbox_answers_only_this_machine(app, client):
    response = client.get("/dev/outbox", environ_base={"REMOTE_ADDR": "192.0.2.10"})
    assert response.status_code == 404
    spoofed = client.get(
        "/dev/outbox",
        environ_base={"REMOTE_ADDR": "192.0.2.10"},
        headers={"X-Forwarded-For": "127.0.0.1"},
    )
    assert spoofed.status_code == 404


def test_the_development_configuration_turns_it_on_and_tests_leave_it_off():
    assert Config.DEV_OUTBOX is True
    assert TestConfig.DEV_OUTBOX is False and ProductionConfig.DEV_OUTBOX is False
    app = create_app(TestConfig, SQLALCHEMY_DATABASE_URI="sqlite://")
    assert "dev_outbox.outbox" not in app.view_functions
    assert app.test_client().get("/dev/outbox").status_code == 404


def test_production_has_no_outbox_page_and_logs_no_body(tmp_path, caplog, capsys):
    # Even a production configuration told DEV_OUTBOX=1 keeps the page and the console off.
    app = create_app(
        ProductionConfig,
        SECRET_KEY="prod-secret",
        SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'prod.db'}",
        REDIS_URL=None,
        DEV_OUTBOX=True,
        SMTP_HOST=None,
        PUBLIC_BASE_URL="https://shop.example",
        LOG_JSON=None,
    )
    assert "dev_outbox.outbox" not in app.view_functions
    assert app.test_client().get("/dev/outbox").status_code == 404
    with app.app_context():
        db.create_all()
        request = ServiceRequestFactory()
        db.session.commit()
        caplog.set_level(logging.INFO)
        capsys.readouterr()
        notifications.notify(
            request.customer,
            "status_changed",
            "Ready",
            f"Secret body. Track: {links.tracking_url(request)}",
            dedup_key="p",
            service_request=request,
            channels=["email"],
        )
        db.session.commit()
        row = db.session.scalars(sa.select(Notification)).one()
        assert row.status == "sent"
        printed = capsys.readouterr().out
        for text in (caplog.text, printed):
            assert "Secret body" not in text and request.tracking_token not in text
        assert f"notification={row.id}" in caplog.text
        db.session.remove()
        db.drop_all()
