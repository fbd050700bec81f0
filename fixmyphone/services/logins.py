"""Login throttling per account: a growing delay after repeated failures, never a lockout.

The per-address limit (``LOGIN_RATE_LIMIT``, Flask-Limiter, failures only) stops one client
guessing fast. This module slows guessing at one *account* from many addresses without locking
its owner out:

- the first ``LOGIN_ACCOUNT_FREE_FAILURES`` failures for an email cost nothing;
- each further failure makes the next attempt wait 1, 2, 4 … seconds, at most
  ``LOGIN_ACCOUNT_MAX_DELAY``: an attempt inside the wait answers 429 with ``Retry-After``
  before the password is even checked, so a botnet gets about one guess per maximum delay;
- failures are forgotten ``LOGIN_ACCOUNT_WINDOW`` seconds after the last one, and at once
  when the right password is given (successes never count);
- an address the account has logged in from before skips the wait (the owner at home or in
  the shop is not held up by someone else's guessing; that address keeps its own limit).

Emails that have no account are throttled the same way, so the answers reveal nothing. The
state lives in Redis when ``REDIS_URL`` is set (shared by every web process), else in this
process. If Redis fails, logins go on without the per-account delay (the per-address limit
still applies) rather than refusing everyone.

The clock is this module's ``now()``; tests monkeypatch it to move time.
"""

from __future__ import annotations

import hashlib
import logging
import math
import threading
import time
from typing import Optional

from flask import Flask, current_app

from ..domain_errors import DomainError
from ..models import User
from ..queue import redis_connection
from . import accounts

log = logging.getLogger(__name__)

# How long an address stays "known" for an account after a successful login.
KNOWN_ADDRESS_TTL = 90 * 24 * 3600


def now() -> float:
    """The throttle's clock (seconds since the epoch); monkeypatch in tests."""
    return time.time()


class LoginDelayed(DomainError):
    """Too many failures for this account lately: wait ``retry_after`` seconds."""

    code = "rate_limited"
    status = 429

    def __init__(self, retry_after: int):
        super().__init__(
            "Too many failed logins for this account; try again in "
            f"{retry_after} second{'s' if retry_after != 1 else ''}."
        )
        self.retry_after = retry_after


def log_in(email: str, password: str, address: Optional[str]) -> Optional[User]:
    """The user these credentials name, or None; raise LoginDelayed when the account must wait.

    Counts the outcome: a failure towards this email's delay, a success clears it.
    """
    check(email, address)
    user = accounts.authenticate(email, password)
    if user is None:
        record_failure(email)
    else:
        record_success(email, address)
    return user


def delay_after(failures: int, free: int, max_delay: int) -> int:
    """Seconds the next attempt waits after ``failures`` consecutive failures."""
    if failures <= free:
        return 0
    return min(2 ** min(failures - free - 1, 30), max_delay)


def check(email: str, address: Optional[str]) -> None:
    """Raise LoginDelayed if an attempt for this email must wait (known addresses never do)."""
    store = _store()
    try:
        state = _live(store.get(_account_key(email)))
        if not state or state.get("not_before", 0) <= now():
            return
        if store.get(_known_key(email, address)):
            return
    except Exception:  # noqa: BLE001 - a broken store must not stop every login
        log.warning("login throttle unavailable; per-account delay skipped", exc_info=True)
        return
    raise LoginDelayed(max(1, math.ceil(state["not_before"] - now())))


def record_failure(email: str) -> None:
    """Count a wrong password (or unknown email) for this email and set the next wait."""
    config = current_app.config
    store = _store()
    key = _account_key(email)
    window = config["LOGIN_ACCOUNT_WINDOW"]
    try:
        state = store.get(key)
        if state and not _live(state):
            store.delete(key)  # the last failure is older than the window: start again
        failures = store.add_failure(key, ttl=window)
        wait = delay_after(
            failures, config["LOGIN_ACCOUNT_FREE_FAILURES"], config["LOGIN_ACCOUNT_MAX_DELAY"]
        )
        moment = now()
        store.set_fields(key, {"last": moment, "not_before": moment + wait}, ttl=window)
    except Exception:  # noqa: BLE001
        log.warning("login throttle unavailable; failure not counted", exc_info=True)


def record_success(email: str, address: Optional[str]) -> None:
    """The right password: forget this email's failures and remember the address."""
    store = _store()
    try:
        store.delete(_account_key(email))
        if address:
            store.set_fields(_known_key(email, address), {"at": now()}, ttl=KNOWN_ADDRESS_TTL)
    except Exception:  # noqa: BLE001
        log.warning("login throttle unavailable; success not recorded", exc_info=True)


def _live(state: Optional[dict]) -> Optional[dict]:
    """An account's state, or None once its last failure is older than the window (judged on
    this module's clock; the store's own expiry only cleans up)."""
    if not state:
        return None
    if state.get("last", 0) + current_app.config["LOGIN_ACCOUNT_WINDOW"] <= now():
        return None
    return state


def _digest(*parts: str) -> str:
    # Keys hold a digest, not the email or the address in clear.
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:40]


def _account_key(email: str) -> str:
    return "fixmyphone:login-account:" + _digest((email or "").strip().lower())


def _known_key(email: str, address: Optional[str]) -> str:
    return "fixmyphone:login-known:" + _digest((email or "").strip().lower(), address or "")


# ---------------------------------------------------------------- storage


class MemoryStore:
    """Per-process state (a single web process, development, tests)."""

    MAX_KEYS = 50_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._data: dict[str, tuple[dict, float]] = {}

    def _live(self, key: str) -> Optional[dict]:
        found = self._data.get(key)
        if found is None:
            return None
        if found[1] <= now():
            del self._data[key]
            return None
        return found[0]

    def get(self, key: str) -> Optional[dict]:
        with self._lock:
            state = self._live(key)
            return dict(state) if state is not None else None

    def add_failure(self, key: str, ttl: int) -> int:
        with self._lock:
            state = self._live(key) or {}
            state["failures"] = state.get("failures", 0) + 1
            self._put(key, state, ttl)
            return state["failures"]

    def set_fields(self, key: str, values: dict[str, float], ttl: int) -> None:
        with self._lock:
            state = self._live(key) or {}
            state.update(values)
            self._put(key, state, ttl)

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)

    def _put(self, key: str, state: dict, ttl: int) -> None:
        if len(self._data) >= self.MAX_KEYS:
            moment = now()
            for stale in [k for k, (_s, exp) in self._data.items() if exp <= moment]:
                del self._data[stale]
            if len(self._data) >= self.MAX_KEYS:  # still full: drop the oldest entries
                for old in list(self._data)[: self.MAX_KEYS // 10]:
                    del self._data[old]
        self._data[key] = (state, now() + ttl)


class RedisStore:
    """State shared by every web process (a hash per key, expiring after its window)."""

    def __init__(self, app: Flask) -> None:
        self._app = app

    def _redis(self):
        return redis_connection(self._app)

    def get(self, key: str) -> Optional[dict]:
        raw = self._redis().hgetall(key)
        return {k.decode(): float(v) for k, v in raw.items()} or None

    def add_failure(self, key: str, ttl: int) -> int:
        pipe = self._redis().pipeline()
        pipe.hincrby(key, "failures", 1)
        pipe.expire(key, ttl)
        return int(pipe.execute()[0])

    def set_fields(self, key: str, values: dict[str, float], ttl: int) -> None:
        pipe = self._redis().pipeline()
        pipe.hset(key, mapping={field: repr(value) for field, value in values.items()})
        pipe.expire(key, ttl)
        pipe.execute()

    def delete(self, key: str) -> None:
        self._redis().delete(key)


def _store():
    app = current_app._get_current_object()
    store = app.extensions.get("fixmyphone_login_throttle")
    if store is None:
        store = RedisStore(app) if app.config["REDIS_URL"] else MemoryStore()
        app.extensions["fixmyphone_login_throttle"] = store
    return store
