"""Channel adapters that deliver an outbox row: email (SMTP, HTML + text) and SMS.

Messages are rendered at send time from the row (subject, body, context) with the templates
in ``templates/email/`` and ``templates/notifications/sms.txt``.

SMTP connections are kept open and reused across messages (``smtp.smtp_connections``).
"""

from __future__ import annotations

import binascii
import functools
import logging
import re
import smtplib
from email.errors import HeaderParseError
from email.message import Message
from email.mime.application import MIMEApplication
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.policy import Compat32
from email.utils import formataddr, make_msgid, parseaddr
from typing import Any, Optional

from flask import current_app, render_template
from jinja2 import TemplateError
from markupsafe import Markup, escape

from ..domain_errors import DomainError
from ..extensions import db
from ..models import Notification, NotificationChannel, ServiceRequest
from . import dev_outbox, documents, secret_links, sms
from .in_app import link_for
from .notifications import header_text
from .smtp import smtp_connections

log = logging.getLogger(__name__)

# Events with their own email template; anything else from alert_staff uses staff_alert.
EMAIL_TEMPLATES = {
    "status_changed",
    "request_received",
    "quote_sent",
    "message_received",
    "appointment_booked",
    "appointment_moved",
    "appointment_canceled",
    "appointment_reminder",
    "pickup_reminder",
    "payment_received",
    "password_reset",
    "staff_alert",
}
URL_RE = re.compile(r"https?://[^\s<>\"']+")


class PermanentDeliveryError(Exception):
    """Delivery cannot succeed by trying again (no address, a refused recipient, bad config,
    a message that cannot be rendered or a header that cannot be written)."""


# A template that fails on a row's data fails the same way on every retry.
RENDERING_ERRORS = (TemplateError, TypeError, ValueError, AttributeError, LookupError)


def send(row: Notification) -> None:
    """Deliver ``row`` on its channel; raise on failure so the job can retry."""
    if row.channel == NotificationChannel.EMAIL:
        send_email(row)
    elif row.channel == NotificationChannel.SMS:
        send_sms(row)
    # in-app rows are delivered by being written.


# ---------------------------------------------------------------- rendering


def template_name(row: Notification) -> str:
    """The email template (without extension) for a row."""
    if row.event in EMAIL_TEMPLATES:
        return row.event
    if (row.context or {}).get("audience") == "staff" or (
        row.user is not None and row.user.is_staff
    ):
        return "staff_alert"
    return "generic"


def message_context(row: Notification) -> dict[str, Any]:
    """What the templates see: the row, its repair, the link to follow, the text as paragraphs."""
    ctx = dict(row.context or {})
    request = (
        db.session.get(ServiceRequest, row.service_request_id) if row.service_request_id else None
    )
    try:
        # Reset and tracking links are stored as placeholders: made live here, at send time.
        body = secret_links.live(row, row.body or "")
        link = link_for(row) if row.event != "password_reset" else None
    except secret_links.LinkUnavailable as exc:
        raise PermanentDeliveryError(str(exc)) from exc
    return {
        "notification": row,
        "ctx": ctx,
        "user": row.user,
        "request": request,
        "link": link,
        "subject": header_text(row.subject),
        "paragraphs": [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()],
        "body": body,
    }


def linkify(text: str) -> Markup:
    """Escape text, keep its line breaks, and turn URLs into links."""
    out = []
    pos = 0
    for match in URL_RE.finditer(text):
        out.append(escape(text[pos : match.start()]))
        url = match.group(0)
        out.append(Markup('<a href="{0}">{0}</a>').format(url))
        pos = match.end()
    out.append(escape(text[pos:]))
    return Markup("").join(out).replace("\n", Markup("<br>\n"))


def template_context(context: dict) -> dict:
    """What an email's templates see: ``context``, ``linkify`` and the app's template globals
    (worked out once for both versions of a message, not once per template)."""
    context = {**context, "linkify": linkify}
    current_app.update_template_context(context)
    return context


def _render(name: str, ext: str, context: dict) -> str:
    """Template ``email/<name>.<ext>`` (``email/generic.<ext>`` when there is none) rendered
    with a ``template_context``."""
    try:
        template = current_app.jinja_env.select_template(
            [f"email/{name}.{ext}", f"email/generic.{ext}"]
        )
        return template.render(context)
    except RENDERING_ERRORS as exc:
        raise PermanentDeliveryError(
            f"email/{name}.{ext} could not be rendered: {type(exc).__name__}: {exc}"
        ) from exc


def render_text(row: Notification) -> str:
    """The plain-text version of an email row, as sent (links live)."""
    return _render(template_name(row), "txt", template_context(message_context(row)))


def render_email(row: Notification) -> Message:
    """The full message for an email row: plain text, HTML alternative and attachments.

    Built with the ``email.mime`` classes (the compat32 policy): a worker builds one per
    delivery, and ``EmailMessage`` parsed and refolded every header, about four times the
    CPU of the whole message here. Bodies are UTF-8, quoted-printable; a non-ASCII subject
    or display name is encoded (RFC 2047) when the message is written. The multipart
    boundaries are fixed and start with "=_", which neither quoted-printable nor base64 can
    produce, so the writer need not search the parts for a free one (nor compile a pattern
    per message to do it).
    """
    cfg = current_app.config
    if not row.recipient:
        raise PermanentDeliveryError("no email address for this notification")
    context = message_context(row)
    name = template_name(row)
    rendering = template_context(context)
    msg: Message = MIMEMultipart(
        "alternative",
        boundary="=_fmp_alternative",
        _subparts=[
            _text_part(_render(name, "txt", rendering), "plain"),
            _text_part(_render(name, "html", rendering), "html"),
        ],
        policy=HEADERS,
    )
    files = attachments(row)
    if files:
        msg = MIMEMultipart("mixed", boundary="=_fmp_mixed", _subparts=[msg], policy=HEADERS)
        for filename, data in files:
            part = MIMEApplication(data, "pdf")
            part.add_header("Content-Disposition", "attachment", filename=filename)
            msg.attach(part)
    # Header values made from data are one line: a CR/LF (from a part name, say) in a
    # subject would otherwise start a header of its own or break the message.
    msg["From"] = _address(header_text(cfg["MAIL_FROM"]))
    msg["To"] = _address(header_text(row.recipient))
    msg["Subject"] = context["subject"]
    # A stable id: a resent message is recognisably the same one.
    domain = cfg["MAIL_FROM"].rsplit("@", 1)[-1].strip(" >") or "fixmyphone.local"
    msg["Message-ID"] = make_msgid(idstring=f"fmp-{row.id}", domain=domain)
    return msg


def _text_part(text: str, subtype: str) -> Message:
    """A UTF-8 text part in quoted-printable (readable in the source, safe for long lines),
    encoded by ``binascii.b2a_qp`` in C: ``MIMEText`` with a QP charset encodes in Python and
    parses its own Content-Type back, a fifth of the CPU of a whole delivery."""
    part = MIMENonMultipart("text", subtype, policy=HEADERS, charset="utf-8")
    part["Content-Transfer-Encoding"] = "quoted-printable"
    part.set_payload(binascii.b2a_qp(text.encode("utf-8")).decode("ascii"))
    return part


class _Headers(Compat32):
    """compat32, except that a header value of printable ASCII that fits on its line is
    written as it is: what compat32 writes too, without building an ``email.header.Header``
    to find that out (a third of the CPU of writing a message). Anything else (non-ASCII, a
    control character, a long value) goes through compat32 unchanged."""

    def _as_is(self, name: str, value) -> bool:
        limit = self.max_line_length
        return (
            isinstance(value, str)
            and value.isascii()
            and value.isprintable()
            and (not limit or len(name) + 2 + len(value) <= limit)
        )

    def fold(self, name, value):
        if self._as_is(name, value):
            return f"{name}: {value}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name, value):
        if self._as_is(name, value):
            return f"{name}: {value}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


HEADERS = _Headers()


def _address(value: str) -> str:
    """An address header value; a non-ASCII display name is encoded, the address kept."""
    if value.isascii():
        return value
    display, address = parseaddr(value)
    return formataddr((display, address), charset="utf-8") if address else value


def attachments(row: Notification) -> list[tuple[str, bytes]]:
    """PDFs named in the row's context, rendered now by the documents service."""
    wanted = (row.context or {}).get("attachments") or []
    if not wanted:
        return []
    files = []
    for item in wanted:
        try:
            files.append(_attachment(item))
        except DomainError as exc:  # the payment or invoice is gone: no retry can help
            raise PermanentDeliveryError(f"attachment {item}: {exc.message}") from exc
    return files


def _attachment(item: dict) -> tuple[str, bytes]:
    kind = item.get("kind")
    if kind == "receipt":
        result = documents.render_receipt(item["payment_id"])
        default_name = f"receipt-{item['payment_id']}.pdf"
    elif kind == "invoice":
        result = documents.render_invoice(item["invoice_id"])
        default_name = f"invoice-{item['invoice_id']}.pdf"
    else:
        raise PermanentDeliveryError(f"unknown attachment kind {kind!r}")
    return _as_file(result, default_name)


def _as_file(result: Any, default_name: str) -> tuple[str, bytes]:
    """Accept bytes, or a (filename, bytes) pair, from the documents service."""
    if isinstance(result, (bytes, bytearray)):
        return default_name, bytes(result)
    if isinstance(result, tuple) and len(result) == 2:
        return str(result[0]), bytes(result[1])
    raise TypeError(f"documents returned {type(result).__name__}, expected PDF bytes")


def render_sms(row: Notification) -> str:
    """The text of an SMS: short, with the link to follow."""
    context = message_context(row)
    try:
        return render_template("notifications/sms.txt", **context).strip()
    except RENDERING_ERRORS as exc:
        raise PermanentDeliveryError(
            f"notifications/sms.txt could not be rendered: {type(exc).__name__}: {exc}"
        ) from exc


# ---------------------------------------------------------------- sending


def send_email(row: Notification) -> None:
    """Send by SMTP; without an SMTP host, print it in development, else note it in the log.

    The log gets who, what subject and which row, never the body: bodies carry live links.
    """
    cfg = current_app.config
    msg = render_email(row)
    if not cfg["SMTP_HOST"]:
        if dev_outbox.console_enabled():
            dev_outbox.print_email(row, msg)
        else:
            log.info(
                "email (not sent, no SMTP_HOST) notification=%s to=%s subject=%r",
                row.id,
                row.recipient,
                row.subject,
            )
        return
    try:
        # The envelope from what is known, not parsed back out of the headers.
        smtp_connections.send(cfg, msg, sender(cfg["MAIL_FROM"]), [header_text(row.recipient)])
    except smtplib.SMTPRecipientsRefused as exc:
        raise PermanentDeliveryError(f"recipient refused: {exc.recipients}") from exc
    except (HeaderParseError, ValueError) as exc:
        # Raised while the message is written out, before anything is sent: the same
        # message fails the same way every time.
        raise PermanentDeliveryError(f"malformed message: {type(exc).__name__}: {exc}") from exc
    except smtplib.SMTPResponseException as exc:
        if 500 <= exc.smtp_code < 600 and exc.smtp_code not in (503,):
            raise PermanentDeliveryError(f"SMTP {exc.smtp_code}: {exc.smtp_error!r}") from exc
        raise


@functools.cache
def sender(mail_from: str) -> str:
    """The envelope sender (the bare address) of a ``MAIL_FROM`` setting."""
    return parseaddr(mail_from)[1] or mail_from


def sms_provider() -> sms.SmsProvider:
    """The configured SMS provider (in development, ``log`` prints to the console)."""
    config = current_app.config
    if config["SMS_PROVIDER"].strip().lower() == "log" and dev_outbox.console_enabled():
        return sms.ConsoleSmsProvider()
    return sms.provider_from_config(config)


def send_sms(row: Notification, provider: Optional[sms.SmsProvider] = None) -> None:
    """Send an SMS through the configured provider (``log`` by default)."""
    if not row.recipient:
        raise PermanentDeliveryError("no phone number for this notification")
    try:
        (provider or sms_provider()).send(row.recipient, render_sms(row))
    except sms.SmsError as exc:
        if exc.permanent:
            raise PermanentDeliveryError(str(exc)) from exc
        raise


def rendered(row: Notification) -> dict:
    """How a row reads once delivered (for /dev/outbox): the text of its email or SMS, live
    links included, or its stored text and why it could not be rendered."""
    try:
        if row.channel == NotificationChannel.EMAIL:
            files = [
                f"{item.get('kind')} {item.get('payment_id') or item.get('invoice_id') or ''}"
                for item in (row.context or {}).get("attachments") or []
            ]
            return {"text": render_text(row), "attachments": files, "error": None}
        if row.channel == NotificationChannel.SMS:
            return {"text": render_sms(row), "attachments": [], "error": None}
        return {"text": secret_links.live(row, row.body), "attachments": [], "error": None}
    except (PermanentDeliveryError, secret_links.LinkUnavailable) as exc:
        return {"text": secret_links.readable(row.body), "attachments": [], "error": str(exc)}
