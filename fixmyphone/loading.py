"""Several lists of rows, from different tables, read in one statement.

A page that shows one repair also shows its history, messages, invoices, payments, estimate
lines, appointments and photos: one SELECT each would be seven round trips whatever the
page's size. ``load_lists`` reads them all at once without multiplying rows (as joined loads
of several collections would): a UNION ALL of each list's (list number, primary key,
position) names the rows, and each table is outer-joined to it once on its primary key, so
the result has one row per listed object and every object is a real ORM instance in the
session, with the options (joined loads) given.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Optional

import sqlalchemy as sa

from .extensions import db


@dataclass(frozen=True)
class Rows:
    """One list to read: the rows of ``model`` matching ``where``, in ``order_by`` order."""

    model: Any
    where: Sequence[sa.ColumnElement[bool]]
    order_by: Sequence[Any] = field(default_factory=tuple)
    limit: Optional[int] = None  # only the first rows (for a long list of choices)

    def select(self) -> sa.Select:
        """The list on its own, as a statement."""
        return sa.select(self.model).where(*self.where).order_by(*self.order_by).limit(self.limit)


def load_lists(*lists: Rows, options: Sequence[Any] = ()) -> list[list[Any]]:
    """The objects of each list, in its order, in one statement."""
    if not lists:
        return []
    members = []
    for number, rows in enumerate(lists):
        key = _primary_key(rows.model)
        order = list(rows.order_by) or [key]
        member = sa.select(
            sa.literal_column(str(number)).label("list_number"),
            key.label("row_id"),
            sa.func.row_number().over(order_by=order).label("position"),
        ).where(*rows.where)
        if rows.limit is not None:
            # A UNION member cannot have its own LIMIT on every database: wrap it.
            member = sa.select(member.order_by(*order).limit(rows.limit).subquery())
        members.append(member)
    listed = sa.union_all(*members).subquery("listed")
    models: dict[Any, list[int]] = {}
    for number, rows in enumerate(lists):
        models.setdefault(rows.model, []).append(number)
    stmt = sa.select(listed.c.list_number, *models).select_from(listed)
    for model, numbers in models.items():
        stmt = stmt.outerjoin(
            model,
            sa.and_(listed.c.list_number.in_(numbers), _primary_key(model) == listed.c.row_id),
        )
    stmt = stmt.order_by(listed.c.list_number, listed.c.position).options(*options)
    column_of = {model: i + 1 for i, model in enumerate(models)}
    found: list[list[Any]] = [[] for _ in lists]
    for row in db.session.execute(stmt):
        number = row[0]
        found[number].append(row[column_of[lists[number].model]])
    return found


def _primary_key(model) -> sa.Column:
    (key,) = sa.inspect(model).primary_key
    return key
