"""Channel adapters that actually deliver an outbox row (email, SMS)."""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage

from flask import current_app

from ..models import Notification

log = logging.getLogger(__name__)


def send(row: Notification) -> None:
    """Deliver ``row`` on its channel; raise on failure so the job can retry."""
    if row.channel == "email":
        send_email(row)
    elif row.channel == "sms":
        send_sms(row)
    # in-app rows are delivered by being written.


def send_email(row: Notification) -> None:
    """Send by SMTP, or log the message when no SMTP host is configured."""
    cfg = current_app.config
    if not row.recipient:
        raise ValueError("no email address for this notification")
    if not cfg.get("SMTP_HOST"):
        log.info(
            "email (not sent, no SMTP_HOST) to=%s subject=%r\n%s",
            row.recipient,
            row.subject,
            row.body,
        )
        return
    msg = EmailMessage()
    msg["From"] = cfg["MAIL_FROM"]
    msg["To"] = row.recipient
    msg["Subject"] = row.subject
    msg.set_content(row.body)
    with smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=15) as smtp:
        if cfg.get("SMTP_USE_TLS"):
            smtp.starttls()
        if cfg.get("SMTP_USERNAME"):
            smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"] or "")
        smtp.send_message(msg)


def send_sms(row: Notification) -> None:
    """Send an SMS through the configured provider (``log`` by default)."""
    if not row.recipient:
        raise ValueError("no phone number for this notification")
    log.info("sms (provider=log) to=%s: %s", row.recipient, row.subject)
