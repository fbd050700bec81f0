"""Outgoing SMTP connections kept open and reused across messages (one per concurrent sender).

A worker pays the connect, EHLO, STARTTLS and login once, not per message. A connection the
server has dropped is replaced and the message sent once more on the new one.
"""

from __future__ import annotations

import atexit
import logging
import smtplib
import threading
import time
from email.message import Message

log = logging.getLogger(__name__)


class SmtpConnections:
    """Open SMTP connections kept for reuse, one per sender at a time (thread-safe).

    A connection is taken for one message and given back after it; one that failed in any
    way but a refused recipient is closed instead. A connection idle for longer than
    ``idle_check_seconds`` is checked with NOOP before use, and one the server dropped anyway
    (SMTPServerDisconnected, or 421 "closing") is replaced and the message sent once more:
    the server never accepted it on the dead connection.
    """

    idle_check_seconds = 30.0

    def __init__(self) -> None:
        self._idle: list[tuple[tuple, smtplib.SMTP, float]] = []
        self._lock = threading.Lock()

    @staticmethod
    def _key(cfg) -> tuple:
        names = ("SMTP_HOST", "SMTP_PORT", "SMTP_USE_TLS", "SMTP_USERNAME", "SMTP_PASSWORD")
        return tuple(cfg[name] for name in names)

    def _open(self, cfg) -> smtplib.SMTP:
        smtp = smtplib.SMTP(cfg["SMTP_HOST"], cfg["SMTP_PORT"], timeout=15)
        try:
            if cfg["SMTP_USE_TLS"]:
                smtp.starttls()
            if cfg["SMTP_USERNAME"]:
                smtp.login(cfg["SMTP_USERNAME"], cfg["SMTP_PASSWORD"] or "")
        except BaseException:
            _close(smtp)
            raise
        return smtp

    def _take(self, key: tuple) -> smtplib.SMTP | None:
        """An idle connection for ``key`` that still answers, or None."""
        while True:
            with self._lock:
                index = next((i for i, item in enumerate(self._idle) if item[0] == key), None)
                if index is None:
                    return None
                _key, smtp, used_at = self._idle.pop(index)
            if time.monotonic() - used_at <= self.idle_check_seconds:
                return smtp
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except (smtplib.SMTPException, OSError):
                pass
            _close(smtp)

    def _give_back(self, key: tuple, smtp: smtplib.SMTP) -> None:
        with self._lock:
            self._idle.append((key, smtp, time.monotonic()))

    def send(
        self,
        cfg,
        msg: Message,
        from_addr: str | None = None,
        to_addrs: list[str] | None = None,
    ) -> None:
        """Send ``msg`` on a kept connection (opened when there is none), to the envelope's
        addresses when given (else the message's From and To)."""
        key = self._key(cfg)
        smtp = self._take(key)
        reused = smtp is not None
        if smtp is None:
            smtp = self._open(cfg)
        try:
            try:
                smtp.send_message(msg, from_addr, to_addrs)
            except (smtplib.SMTPServerDisconnected, smtplib.SMTPResponseException) as exc:
                dropped = isinstance(exc, smtplib.SMTPServerDisconnected) or exc.smtp_code == 421
                if not (reused and dropped):
                    raise
                log.info("SMTP connection dropped by the server (%s); reconnecting", exc)
                _close(smtp)
                smtp = self._open(cfg)
                smtp.send_message(msg, from_addr, to_addrs)
        except smtplib.SMTPRecipientsRefused:
            self._give_back(key, smtp)  # smtplib reset the transaction; the connection is fine
            raise
        except BaseException:
            _close(smtp)
            raise
        self._give_back(key, smtp)

    def close_all(self) -> None:
        """Say QUIT on every idle connection (a worker stopping, the process exiting)."""
        with self._lock:
            idle, self._idle = self._idle, []
        for _key, smtp, _used_at in idle:
            _close(smtp)


def _close(smtp: smtplib.SMTP) -> None:
    try:
        smtp.quit()
    except (smtplib.SMTPException, OSError):
        smtp.close()


smtp_connections = SmtpConnections()
atexit.register(smtp_connections.close_all)
