"""SMS providers behind one small interface: ``log`` (default), ``console`` and Twilio's API.

Choose with ``SMS_PROVIDER`` (``log`` or ``twilio``); Twilio reads ``TWILIO_ACCOUNT_SID``,
``TWILIO_AUTH_TOKEN``, ``TWILIO_FROM`` and, for tests or a proxy, ``TWILIO_API_BASE``.
``log`` notes that a message was not sent, never its text (texts carry tracking links); in
development (``DEV_OUTBOX``) delivery uses ``ConsoleSmsProvider`` instead, which prints the
whole text for the developer to read.
"""

from __future__ import annotations

import base64
import json
import logging
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Protocol

log = logging.getLogger(__name__)


class SmsError(Exception):
    """An SMS could not be sent; ``permanent`` means a retry cannot help (bad number, auth)."""

    def __init__(self, message: str, *, permanent: bool = False):
        super().__init__(message)
        self.permanent = permanent


class SmsProvider(Protocol):
    """Sends one text message; returns the provider's message id."""

    def send(self, to: str, body: str) -> str: ...


class LogSmsProvider:
    """Notes in the log that a message was not sent: to whom and how long, not the text."""

    def send(self, to: str, body: str) -> str:
        log.info("sms (provider=log, not sent) to=%s length=%d", to, len(body))
        return "logged"


class ConsoleSmsProvider:
    """Prints the whole message on standard output (development only: it shows links)."""

    def send(self, to: str, body: str) -> str:
        rule = "-" * 72
        print(
            f"\n{rule}\nSMS to {to} (development console, not sent)\n{rule}\n{body}\n{rule}",
            file=sys.stdout,
            flush=True,
        )
        return "console"


class TwilioSmsProvider:
    """Twilio's Messages API over plain HTTPS with basic auth (no SDK needed)."""

    def __init__(
        self,
        account_sid: str,
        auth_token: str,
        from_number: str,
        api_base: str = "https://api.twilio.com",
        timeout: float = 15,
    ):
        if not (account_sid and auth_token and from_number):
            raise SmsError(
                "Twilio needs TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN and TWILIO_FROM.",
                permanent=True,
            )
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.from_number = from_number
        self.api_base = api_base.rstrip("/")
        self.timeout = timeout

    def messages_url(self) -> str:
        sid = urllib.parse.quote(self.account_sid, safe="")
        return f"{self.api_base}/2010-04-01/Accounts/{sid}/Messages.json"

    def send(self, to: str, body: str) -> str:
        data = urllib.parse.urlencode({"To": to, "From": self.from_number, "Body": body}).encode()
        credentials = base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        request = urllib.request.Request(  # noqa: S310  (URL built from our own config)
            self.messages_url(),
            data=data,
            method="POST",
            headers={
                "Authorization": f"Basic {credentials}",
                "Content-Type": "application/x-www-form-urlencoded",
                "Accept": "application/json",
            },
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                payload = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc)
            # 4xx (bad number, bad credentials) will fail again; 429 and 5xx may pass later.
            permanent = 400 <= exc.code < 500 and exc.code != 429
            raise SmsError(f"Twilio answered {exc.code}: {detail}", permanent=permanent) from exc
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise SmsError(f"Twilio unreachable: {exc}") from exc
        except ValueError as exc:
            raise SmsError(f"Twilio answered something that is not JSON: {exc}") from exc
        return str(payload.get("sid") or "")


def _error_detail(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read() or b"{}")
        return str(body.get("message") or body)[:300]
    except ValueError:
        return exc.reason or "error"


def provider_from_config(config) -> SmsProvider:
    """The provider the app's configuration names (``SMS_PROVIDER``)."""
    name = config["SMS_PROVIDER"].strip().lower()
    if name == "log":
        return LogSmsProvider()
    if name == "twilio":
        return TwilioSmsProvider(
            config["TWILIO_ACCOUNT_SID"] or "",
            config["TWILIO_AUTH_TOKEN"] or "",
            config["TWILIO_FROM"] or "",
            api_base=config["TWILIO_API_BASE"],
        )
    raise SmsError(f"Unknown SMS_PROVIDER {name!r}; use 'log' or 'twilio'.", permanent=True)
