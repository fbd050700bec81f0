"""Secret links in notifications: stored as placeholders, made live only when sent.

A password-reset (or set-password) link or a repair's tracking link lets whoever holds it in,
so the outbox never stores one. ``protect`` swaps each such link in a body for a placeholder
naming only the page it leads to, when the row is written; ``live`` puts a working link back
(a freshly signed reset token, the repair's tracking address) at the moment a message is
rendered for delivery. Staff screens, exports and logs see ``readable`` text, in which a
placeholder (or a live link in a row written before this rule) reads "[tracking link]".

Every route that takes a ``token`` must be registered in ``LINKS``: a link to an unknown one
is removed from the body rather than stored (tests check the registry against the URL map).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Optional

from flask import current_app
from werkzeug.exceptions import HTTPException
from werkzeug.routing import BuildError, RoutingException

from .. import links
from ..extensions import db
from ..models import Notification, ServiceRequest, User
from .reset_tokens import make_reset_token

URL_RE = re.compile(r"https?://[^\s<>\"']+")
# ⟦link:endpoint⟧, or ⟦link:endpoint;name=value...⟧ for a page that also takes other arguments.
MARK_RE = re.compile(r"\u27e6link:([a-z_.]+)((?:;[a-z_]+=[A-Za-z0-9_.\-]+)*)\u27e7")
ARG_VALUE_RE = re.compile(r"^[A-Za-z0-9_.\-]+$")
REMOVED = "[link removed]"
REDACTED = "[redacted]"


class LinkUnavailable(Exception):
    """A placeholder cannot be made live (the account or the repair is gone)."""


@dataclass(frozen=True)
class SecretLink:
    """A page reached by a token: how it reads on staff screens and how to make its token."""

    label: str
    token_for: Callable[[Notification], str]
    # True: only the row's own repair's token is kept as a placeholder (others are removed).
    repair_token: bool = False


def _tracking_token(row: Notification) -> str:
    request = (
        db.session.get(ServiceRequest, row.service_request_id) if row.service_request_id else None
    )
    if request is None:
        raise LinkUnavailable("the repair of this notification no longer exists")
    return request.tracking_token


def _reset_token(row: Notification) -> str:
    user = db.session.get(User, row.user_id) if row.user_id else None
    if user is None or not user.active:
        raise LinkUnavailable("the account of this notification is gone or deactivated")
    return make_reset_token(user)


LINKS: dict[str, SecretLink] = {
    "public.track_token": SecretLink("tracking link", _tracking_token, repair_token=True),
    "public.token_quote": SecretLink("quote link", _tracking_token, repair_token=True),
    "public.token_message": SecretLink("message link", _tracking_token, repair_token=True),
    "public.token_invoice_pdf": SecretLink("invoice link", _tracking_token, repair_token=True),
    "public.token_receipt_pdf": SecretLink("receipt link", _tracking_token, repair_token=True),
    "auth.reset_password": SecretLink("password link", _reset_token),
}


def register(endpoint: str, link: SecretLink) -> None:
    """Declare another token route (an invitation page, say) so its links are protected too."""
    LINKS[endpoint] = link


def mark(endpoint: str, **args: Any) -> str:
    """The placeholder stored instead of a link to ``endpoint`` (with its other arguments)."""
    extra = "".join(f";{name}={value}" for name, value in sorted(args.items()))
    return f"\u27e6link:{endpoint}{extra}\u27e7"


def _base() -> str:
    return current_app.config["PUBLIC_BASE_URL"].rstrip("/")


def _token_route(url: str) -> Optional[tuple[str, dict, str]]:
    """(endpoint, its arguments, trailing punctuation) when ``url`` is one of the shop's token
    pages."""
    # A sentence may end right after a link; tokens never end with punctuation.
    core = url.rstrip(".,;:!?)/")
    trail = url[len(core) :]
    base = _base()
    if not core.startswith(base + "/"):
        return None
    path = core[len(base) :].split("#", 1)[0].split("?", 1)[0]
    adapter = current_app.url_map.bind("localhost")
    for method in ("GET", "POST"):  # a form's action (POST only) carries the token too
        try:
            endpoint, args = adapter.match(path, method=method)
        except (HTTPException, RoutingException):
            continue
        if "token" in args:
            return endpoint, args, trail
        return None
    return None


def protect(text: str, service_request: Optional[ServiceRequest] = None) -> str:
    """``text`` with every secret link replaced by its placeholder (or removed)."""
    if not text:
        return text
    # A placeholder typed by a person (a message, a note) must never become a live link.
    text = text.replace("\u27e6", "[").replace("\u27e7", "]")
    own_token = service_request.tracking_token if service_request is not None else None

    def swap(match: re.Match) -> str:
        found = _token_route(match.group(0))
        if found is None:
            return match.group(0)
        endpoint, args, trail = found
        link = LINKS.get(endpoint)
        token = str(args.pop("token"))
        if link is None or (link.repair_token and token != own_token):
            return REMOVED + trail
        if not all(ARG_VALUE_RE.match(str(value)) for value in args.values()):
            return REMOVED + trail
        return mark(endpoint, **args) + trail

    text = URL_RE.sub(swap, text)
    if own_token and own_token in text:
        text = text.replace(own_token, REDACTED)
    return text


def readable(text: str) -> str:
    """What staff screens, exports and logs show: placeholders as "[tracking link]"."""
    if not text:
        return text or ""

    def label(match: re.Match) -> str:
        link = LINKS.get(match.group(1))
        return f"[{link.label}]" if link else REMOVED

    def old_link(match: re.Match) -> str:
        found = _token_route(match.group(0))
        if found is None:
            return match.group(0)
        link = LINKS.get(found[0])
        return (f"[{link.label}]" if link else REMOVED) + found[2]

    return MARK_RE.sub(label, URL_RE.sub(old_link, text))


def live(row: Notification, text: str) -> str:
    """``text`` with its placeholders replaced by working links for ``row``'s recipient.

    Raises ``LinkUnavailable`` when a link cannot be made (the account or repair is gone):
    sending such a message could never help its reader.
    """
    if not text or "\u27e6" not in text:
        return text
    tokens: dict[str, str] = {}  # one token per endpoint and message (text and HTML agree)

    def build(match: re.Match) -> str:
        endpoint = match.group(1)
        link = LINKS.get(endpoint)
        if link is None:
            return REMOVED
        if endpoint not in tokens:
            tokens[endpoint] = link.token_for(row)
        args = dict(part.split("=", 1) for part in match.group(2).split(";") if part)
        try:
            return links.external_url(endpoint, token=tokens[endpoint], **args)
        except BuildError as exc:
            raise LinkUnavailable(f"no such page any more: {endpoint}") from exc

    return MARK_RE.sub(build, text)


def token_endpoints() -> set[str]:
    """Every endpoint of the app whose URL carries a ``token`` (for the registry's test)."""
    return {rule.endpoint for rule in current_app.url_map.iter_rules() if "token" in rule.arguments}
