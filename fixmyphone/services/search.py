"""The back office's search over repairs: one lower-cased text column, kept right on every flush.

``ServiceRequest.search_text`` holds the searched values of a repair and of its customer, each
field preceded by SEPARATOR (a control character no form lets anyone type) and the whole ended
by it: ``\\x1fref\\x1fimei\\x1fbrand\\x1fmodel\\x1fname\\x1femail\\x1fphone\\x1f``. A search word
is then one LIKE on one column, which PostgreSQL answers from a single trigram index, and
Flask-Admin's syntax keeps its meaning per field: ``word`` anywhere in a field, ``^word`` at the
start of one, ``=word`` a whole field.

The before_flush listener below (installed by create_app) is the only writer in the app (bench-data computes the same
text with ``text_for``; migration 0003 backfilled existing rows with the same recipe in SQL).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Optional

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, attributes

from ..models import CustomerProfile, ServiceRequest, User, new_reference

SEPARATOR = "\x1f"
# What each part of the text is made of, in order (the migration's backfill follows it).
REQUEST_FIELDS = ("reference", "imei", "brand", "model")
CUSTOMER_FIELDS = ("full_name", "email")
# A request's text changes with these; a customer's requests' texts with those of User/profile.
_REQUEST_KEYS = (*REQUEST_FIELDS, "customer_id", "customer")
_PROFILE_KEYS = ("phone", "user_id", "user")


def text_for(*values: Optional[str]) -> str:
    """The search text of the given field values (reference, imei, brand, model, customer
    name, email, phone): lower-cased, each after a separator, a separator at the end."""
    parts = ((v or "").replace(SEPARATOR, " ") for v in values)
    return (SEPARATOR + SEPARATOR.join(parts) + SEPARATOR).lower()


def _customer_values(customer: Optional[User]) -> tuple[Optional[str], ...]:
    if customer is None:
        return (None, None, None)
    profile = customer.customer_profile
    return (customer.full_name, customer.email, profile.phone if profile else None)


def request_text(request: ServiceRequest, customer: Optional[User]) -> str:
    values = (getattr(request, f) for f in REQUEST_FIELDS)
    return text_for(*values, *_customer_values(customer))


def like_pattern(term: str) -> Optional[str]:
    """The LIKE pattern (escape character backslash) for one search word, with the meaning
    flask_admin.contrib.sqla.tools.parse_like_term gives it: ``^word`` starts a field,
    ``=word`` is a whole field, anything else is a substring. None for an empty word."""
    kind, word = "", term
    if term[:1] in ("^", "="):
        kind, word = term[0], term[1:]
    word = word.replace(SEPARATOR, "").lower()
    if not word:
        return None
    word = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    if kind == "^":
        return f"%{SEPARATOR}{word}%"
    if kind == "=":
        return f"%{SEPARATOR}{word}{SEPARATOR}%"
    return f"%{word}%"


def matches(term: str) -> Optional[sa.ColumnElement[bool]]:
    """The WHERE clause for one search word (None: the word restricts nothing)."""
    pattern = like_pattern(term)
    if pattern is None:
        return None
    return ServiceRequest.search_text.like(pattern, escape="\\")


# ---------------------------------------------------------------- upkeep


def _changed(obj: Any, keys: Iterable[str]) -> bool:
    state = sa.inspect(obj)
    return any(state.attrs[k].history.has_changes() for k in keys)


def _customer_of(session: Session, request: ServiceRequest) -> Optional[User]:
    if request.customer is not None or request.customer_id is None:
        return request.customer
    return session.get(User, request.customer_id)


def install_search_upkeep() -> None:
    """Keep every repair's search text right on each flush (for every session)."""
    if not event.contains(Session, "before_flush", _keep_search_text):
        event.listen(Session, "before_flush", _keep_search_text)


def _keep_search_text(session: Session, flush_context: Any, instances: Any) -> None:
    """New or changed repairs get their text; a customer's new name, email or phone rewrites
    the texts of their repairs already saved (without touching those repairs' updated_at)."""
    requests: list[ServiceRequest] = []
    customers: dict[int, User] = {}
    for obj in (*session.new, *session.dirty):
        new = obj in session.new
        if isinstance(obj, ServiceRequest):
            if new or _changed(obj, _REQUEST_KEYS):
                requests.append(obj)
        elif isinstance(obj, User):
            if not new and _changed(obj, CUSTOMER_FIELDS):
                customers[obj.id] = obj
        elif isinstance(obj, CustomerProfile) and (new or _changed(obj, _PROFILE_KEYS)):
            with session.no_autoflush:
                user = obj.user or session.get(User, obj.user_id)
            if user is not None and user.id is not None:
                customers[user.id] = user
    if not requests and not customers:
        return
    with session.no_autoflush:
        for request in requests:
            if request.reference is None:
                request.reference = new_reference()  # the column default, drawn now to be searched
            text = request_text(request, _customer_of(session, request))
            if request.search_text != text:
                request.search_text = text
        if customers:
            _rewrite_saved_requests(session, customers, handled={id(r) for r in requests})


def _rewrite_saved_requests(session: Session, customers: dict[int, User], handled: set) -> None:
    table = ServiceRequest.__table__
    rows = session.execute(
        sa.select(table.c.id, table.c.customer_id, *(table.c[f] for f in REQUEST_FIELDS)).where(
            table.c.customer_id.in_(customers)
        )
    ).all()
    updates = []
    for row in rows:
        loaded = session.identity_map.get(session.identity_key(ServiceRequest, row.id))
        if loaded is not None and id(loaded) in handled:
            continue  # changed itself: the flush writes its new text
        values = (getattr(row, f) for f in REQUEST_FIELDS)
        text = text_for(*values, *_customer_values(customers[row.customer_id]))
        updates.append({"row_id": row.id, "text": text})
        if loaded is not None:
            attributes.set_committed_value(loaded, "search_text", text)
    if updates:
        # Core, so updated_at stays: the repair itself did not change. updated_at = updated_at
        # keeps its onupdate default out of the statement.
        session.connection().execute(
            table.update()
            .where(table.c.id == sa.bindparam("row_id"))
            .values(search_text=sa.bindparam("text"), updated_at=table.c.updated_at),
            updates,
        )
