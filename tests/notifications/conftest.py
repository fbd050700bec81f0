"""Fixtures for the notification tests: a recorder in place of the channels, a tiny SMTP
sink and a fake Twilio API, both on local ports."""

from __future__ import annotations

import email
import json
import socket
import socketserver
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest

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


class _SmtpHandler(socketserver.StreamRequestHandler):
    def reply(self, text: str) -> None:
        self.wfile.write(text.encode() + b"\r\n")

    def handle(self) -> None:
        server = self.server
        with server.lock:
            server.connections += 1
            server.open_sockets.add(self.connection)
        try:
            self.converse(server)
        finally:
            with server.lock:
                server.open_sockets.discard(self.connection)

    def converse(self, server) -> None:
        self.reply("220 sink.test ESMTP")
        mail_from, rcpts = None, []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("utf-8", "replace").strip()
            upper = command.upper()
            if upper.startswith("EHLO"):
                self.wfile.write(b"250-sink.test\r\n250 8BITMIME\r\n")
            elif upper.startswith("HELO"):
                self.reply("250 sink.test")
            elif upper.startswith("MAIL FROM:"):
                mail_from, rcpts = command[10:].strip(), []
                self.reply("250 OK")
            elif upper.startswith("RCPT TO:"):
                address = command[8:].strip().strip("<>")
                if address in server.refuse:
                    self.reply("550 No such user")
                else:
                    rcpts.append(address)
                    self.reply("250 OK")
            elif upper == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b".\n", b""):
                        break
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                message = email.message_from_bytes(b"".join(data), policy=policy.default)
                server.messages.append({"from": mail_from, "to": rcpts, "message": message})
                self.reply("250 OK queued")
            elif upper in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif upper == "QUIT":
                server.quits += 1
                self.reply("221 Bye")
                return
            else:
                self.reply("502 Command not implemented")


class SmtpSink(socketserver.ThreadingTCPServer):
    """An SMTP server on 127.0.0.1 that keeps every message it receives."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _SmtpHandler)
        self.messages: list[dict] = []
        self.refuse: set[str] = set()
        self.connections = 0  # SMTP sessions opened by clients
        self.quits = 0  # sessions the client ended with QUIT
        self.open_sockets: set[socket.socket] = set()
        self.lock = threading.Lock()

    @property
    def port(self) -> int:
        return self.server_address[1]

    def drop_connections(self) -> None:
        """Hang up on every client, as a server does after its idle timeout."""
        with self.lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def smtp_sink():
    sink = SmtpSink()
    thread = threading.Thread(target=sink.serve_forever, daemon=True)
    thread.start()
    delivery.smtp_connections.close_all()
    yield sink
    delivery.smtp_connections.close_all()  # no kept connection outlives its sink
    sink.shutdown()
    sink.server_close()


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
