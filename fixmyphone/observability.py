"""Structured JSON logs with a request id on every line (also carried into jobs)."""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime

from flask import Flask, g, request

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "request_id", default=None
)
_SAFE_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
_SECRET_PATTERNS = [
    re.compile(
        r"(?i)(password|secret|token|authorization|api[_-]?key)(\"?\s*[:=]\s*\"?)([^\s\",&]+)"
    ),
    re.compile(r"\b(sk|rk|whsec|pk)_(live|test)?_?[A-Za-z0-9]{8,}\b"),
]


# URLs whose path segment is a credential: reset / set-password links and tracking links
# (tests/test_security.py checks every url_map rule with a token argument is covered). The
# separator may arrive percent-encoded, e.g. inside a ``next=`` or a referer.
_SLASH = r"(?:/|%2[fF])"
_SECRET_PATH = re.compile(rf"(?i)({_SLASH}(?:account{_SLASH}reset|track){_SLASH})([^/?#&\s\"']+)")
# Query parameters that carry one: ?token=, ?reset_token=, ...
_SECRET_QUERY = re.compile(r"(?i)((?:^|[?&;])[^=&#\s]*token[^=&#\s]*=)[^&#\s\"']*")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
REDACTED = "<redacted>"


def redact_url(text: str) -> str:
    """A path, query string, request line or referer with its tokens replaced by <redacted>."""
    if not text:
        return text
    text = _SECRET_PATH.sub(rf"\1{REDACTED}", text)
    return _SECRET_QUERY.sub(rf"\1{REDACTED}", text)


def loggable_path(path: str) -> str:
    """A request path fit for an access log: tokens redacted, control characters escaped
    (a CR/LF in a path must not start a forged log line)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", redact_url(path))


def current_request_id() -> str | None:
    """The id of the request (or job) being handled, if any."""
    return request_id_var.get()


def redact(text: str) -> str:
    """Mask things that look like secrets so they never reach the logs."""
    text = _SECRET_PATTERNS[0].sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)
    return redact_url(_SECRET_PATTERNS[1].sub("[redacted]", text))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id(),
        }
        for key in ("method", "path", "status", "duration_ms", "job"):
            if hasattr(record, key):
                payload[key] = getattr(record, key)
        if record.exc_info:
            payload["exc"] = redact(self.formatException(record.exc_info))
        return json.dumps(payload, default=str)


class TextFormatter(logging.Formatter):
    """The plain-text line (development), with the same secrets masked as in JSON lines."""

    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class RequestIdFilter(logging.Filter):
    """Stamp every record with the current request id."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        return True


def configure_logging(json_logs: bool, level: str = "INFO") -> None:
    """Send logs to stdout, as JSON lines in production."""
    root = logging.getLogger()
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_logs
        else TextFormatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    for existing in list(root.handlers):
        if getattr(existing, "_fixmyphone", False):
            root.removeHandler(existing)
    handler._fixmyphone = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)


class RedactUrlsFilter(logging.Filter):
    """Redact tokens in the URLs a library's access log writes (werkzeug's development server)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, str) else arg for arg in record.args
            )
        return True


def init_observability(app: Flask) -> None:
    """Give every request an id (from X-Request-ID when sane), log it, echo it back."""
    if app.config["LOG_JSON"] is not None and not app.testing:
        configure_logging(bool(app.config["LOG_JSON"]), app.config["LOG_LEVEL"])
    werkzeug_log = logging.getLogger("werkzeug")
    if not any(isinstance(f, RedactUrlsFilter) for f in werkzeug_log.filters):
        werkzeug_log.addFilter(RedactUrlsFilter())
    access = logging.getLogger("fixmyphone.access")

    def _start():
        incoming = request.headers.get("X-Request-ID", "")
        rid = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        g.request_id = rid
        g.request_token = request_id_var.set(rid)
        g.request_started = time.perf_counter()

    # First of all before-request hooks: a request that CSRF or a rate limit refuses is still
    # logged, with its id.
    app.before_request_funcs.setdefault(None, []).insert(0, _start)

    @app.after_request
    def _finish(response):
        rid = g.get("request_id")
        if rid:
            response.headers["X-Request-ID"] = rid
            # The line is built only when it will be written (LOG_LEVEL above INFO turns the
            # app's access lines off, e.g. behind a proxy that keeps its own).
            if not access.isEnabledFor(logging.INFO):
                return response
            duration = (time.perf_counter() - g.get("request_started", time.perf_counter())) * 1000
            path = loggable_path(request.path)
            access.info(
                "%s %s %s",
                request.method,
                path,
                response.status_code,
                extra={
                    "method": request.method,
                    "path": path,
                    "status": response.status_code,
                    "duration_ms": round(duration, 1),
                },
            )
        return response

    @app.teardown_request
    def _reset(_exc):
        token = g.pop("request_token", None)
        if token is not None:
            try:
                request_id_var.reset(token)
            except ValueError:
                request_id_var.set(None)
