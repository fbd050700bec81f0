"""Fixtures for the notification tests: a recorder in place of the channels, an SMTP sink
(aiosmtpd) and a fake Twilio API, both on local ports."""

from __future__ import annotations

import email
import json
import socket
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller

from fixmyphone.services import delivery


class Sent(list):
    """The rows the channels delivered; set ``error`` to make every send raise it."""

    error: Exception | None = None

    def channels(self) -> list[str]:
        return sorted(c["channel"] for c in self)


@pytest.fixture
def sent(monkeypatch) -> Sent:
    """Replace the channels with a recorder: every delivered row lands in this list."""
    record = Sent()

    def fake_send(row):
        if record.error is not None:
            raise record.error
        record.append(
            {"id": row.id, "channel": row.channel, "event": row.event, "to": row.recipient}
        )

    monkeypatch.setattr(delivery, "send", fake_send)
    return record


# ---------------------------------------------------------------- SMTP sink


def free_port() -> int:
    """A TCP port free on 127.0.0.1 (aiosmtpd 1.4's Controller cannot listen on port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class SmtpSink:
    """aiosmtpd's SMTP server on 127.0.0.1, in a thread, keeping every message it receives.

    ``messages`` holds ``{"from", "to", "message"}`` dicts (the message parsed with the modern
    email policy); a recipient in ``refuse`` is answered 550. Its methods named ``handle_*``
    are aiosmtpd's handler hooks.
    """

    def __init__(self):
        self.messages: list[dict] = []
        self.refuse: set[str] = set()
        self.quits = 0  # sessions the client ended with QUIT
        self._sessions: list = []  # aiosmtpd's protocol object of each greeted connection
        self._lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=free_port())

    @property
    def port(self) -> int:
        return self.controller.port

    @property
    def connections(self) -> int:
        """SMTP sessions opened by clients (each greets with EHLO or HELO once)."""
        return len(self._sessions)

    def start(self) -> SmtpSink:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()

    def drop_connections(self) -> None:
        """Hang up on every client, as a server does after its idle timeout."""
        with self._lock:
            transports = [s.transport for s in self._sessions if s.transport is not None]
        for transport in transports:
            if not transport.is_closing():
                transport.get_extra_info("socket").shutdown(socket.SHUT_RDWR)

    def _greeted(self, server, session, hostname: str) -> None:
        session.host_name = hostname
        with self._lock:
            if server not in self._sessions:
                self._sessions.append(server)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        self._greeted(server, session, hostname)
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):  # noqa: N802
        self._greeted(server, session, hostname)
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if address in self.refuse:
            return "550 No such user"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        message = email.message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append(
            {"from": envelope.mail_from, "to": list(envelope.rcpt_tos), "message": message}
        )
        return "250 OK queued"

    async def handle_QUIT(self, server, session, envelope):  # noqa: N802
        self.quits += 1
        return "221 Bye"


@pytest.fixture
def smtp_sink():
    sink = SmtpSink().start()
    delivery.smtp_connections.close_all()
    yield sink
    delivery.smtp_connections.close_all()  # no kept connection outlives its sink
    sink.stop()


@pytest.fixture
def smtp_settings(smtp_sink) -> dict:
    """The app's settings for sending email to the sink (a test's app_settings adds its own)."""
    return {
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": smtp_sink.port,
        "SMTP_USE_TLS": False,
        "MAIL_FROM": "Shop <shop@fixmyphone.test>",
    }


# ---------------------------------------------------------------- fake Twilio


class _TwilioHandler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode()
        self.server.requests.append(
            {"path": self.path, "headers": dict(self.headers), "form": parse_qs(body)}
        )
        status, payload = self.server.answer
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


class FakeTwilio(ThreadingHTTPServer):
    """Answers Twilio's Messages endpoint with ``answer`` and records the requests."""

    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _TwilioHandler)
        self.requests: list[dict] = []
        self.answer = (201, {"sid": "SM123", "status": "queued"})

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def fake_twilio():
    server = FakeTwilio()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
