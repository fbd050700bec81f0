"""Development only: what the shop sends, printed on the console and listed on /dev/outbox.

A newcomer running ``scripts/run`` has no SMTP server and no SMS provider. With ``DEV_OUTBOX``
on (the development default; always off in production, off in tests unless a test turns it
on) each email or SMS that would have gone out is printed in full on standard output,
reset and tracking links included, and the recent ones are listed at ``/dev/outbox``.
Production never prints or logs a message's text.
"""

from __future__ import annotations

import sys
from email.message import Message
from typing import Optional

import sqlalchemy as sa
from flask import Flask, current_app

from ..extensions import db
from ..models import Notification

RULE = "=" * 72
RECENT = 50


def console_enabled(app: Optional[Flask] = None) -> bool:
    """True in development with ``DEV_OUTBOX`` on; never in a production configuration."""
    config = (app or current_app).config
    return config["DEV_OUTBOX"] and config["ENV_NAME"] != "production"


def text_part(msg: Message) -> str:
    """The plain-text part of a rendered email, decoded."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True) or b""
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    return ""


def attachment_names(msg: Message) -> list[str]:
    """The file names of a rendered email's attachments."""
    return [name for part in msg.walk() if (name := part.get_filename())]


def print_email(row: Notification, msg: Message) -> None:
    """Print an email that was not sent (no SMTP host) as a person would read it."""
    lines = [
        "",
        RULE,
        f"Email #{row.id} ({row.event}), development console: not sent",
        f"From: {msg['From']}",
        f"To: {msg['To']}",
        f"Subject: {msg['Subject']}",
    ]
    files = attachment_names(msg)
    if files:
        lines.append(f"Attachments: {', '.join(files)}")
    lines += [RULE, text_part(msg).rstrip(), RULE, ""]
    print("\n".join(lines), file=sys.stdout, flush=True)


def recent(limit: int = RECENT) -> list[Notification]:
    """The newest notifications, every channel."""
    return list(
        db.session.scalars(
            sa.select(Notification).order_by(Notification.id.desc()).limit(limit)
        ).all()
    )
