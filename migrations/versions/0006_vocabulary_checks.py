"""stored vocabularies keep to their values: one CHECK constraint per status, kind, method...

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 09:00:00.000000

Every column holding one of the models' vocabularies (a ``StrEnum`` in fixmyphone/models.py)
gets ``CHECK (<column> IN (<the enum's values>))``, named ck_<table>_<column>_valid as the
models declare it. users.role, estimate_lines.kind and repair_charges.kind have had theirs
since 0001 and 0004. The values below are the enums' at this revision, written out: a
revision is history, and one importing today's enums would silently follow a later change on
new databases while existing ones keep the old constraint. tests/test_migrations.py compares
the migrated constraints with the models', so a vocabulary changed without a revision
replacing its constraint fails there.

No data changes. No version of the code wrote a value outside these vocabularies, so the
upgrade does not guess: when a database holds one anyway (a hand edit), it stops before
changing anything and names the tables, columns and values to look at.
"""

from itertools import groupby

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# The vocabularies as they stand at this revision.
REPAIR_STATUSES = (
    "pending",
    "in_progress",
    "awaiting_parts",
    "on_hold",
    "quality_check",
    "ready_for_pickup",
    "completed",
    "canceled",
    "scheduled",
    "payment_pending",
    "delayed",
    "closed",
    "dispatched",
)
VOCABULARIES = (
    ("service_requests", "status", REPAIR_STATUSES),
    ("service_requests", "device_type", ("phone", "tablet", "smartwatch", "laptop", "other")),
    ("service_requests", "quote_status", ("none", "draft", "pending", "approved", "declined")),
    ("status_changes", "from_status", REPAIR_STATUSES),
    ("status_changes", "to_status", REPAIR_STATUSES),
    ("appointments", "status", ("scheduled", "completed", "canceled", "no_show")),
    (
        "stock_movements",
        "kind",
        ("receive", "return", "adjust", "reserve", "release", "consume", "sale"),
    ),
    ("request_parts", "status", ("reserved", "consumed", "released")),
    ("invoices", "kind", ("invoice", "credit_note")),
    ("invoices", "status", ("draft", "issued")),
    (
        "invoice_lines",
        "kind",
        ("part", "labour", "fee", "discount", "deposit", "deduction", "credit"),
    ),
    ("payments", "method", ("stripe", "cash", "card_terminal", "bank_transfer")),
    ("payments", "purpose", ("balance", "deposit")),
    ("payments", "status", ("pending", "succeeded", "failed", "canceled", "needs_review")),
    ("refunds", "status", ("pending", "succeeded", "failed", "canceled")),
    ("stripe_events", "status", ("received", "processed", "deferred", "ignored")),
    ("notifications", "channel", ("email", "sms", "in_app")),
    ("notifications", "status", ("pending", "sending", "sent", "failed", "read")),
)


def one_of(column: str, values: tuple[str, ...]) -> str:
    """The condition ``column IN ('a', 'b')``, as fixmyphone.models.one_of_sql writes it."""
    return f"{column} IN ({', '.join(repr(value) for value in values)})"


def _by_table():
    return groupby(VOCABULARIES, key=lambda row: row[0])


def _strays() -> list[str]:
    """Stored values outside their vocabulary, as 'table.column: value, value'."""
    bind = op.get_bind()
    found = []
    for table, column, vocabulary in VOCABULARIES:
        stored = sa.table(table, sa.column(column)).c[column]
        values = bind.scalars(
            sa.select(stored).distinct().where(stored.not_in(vocabulary)).order_by(stored)
        ).all()
        if values:
            found.append(f"{table}.{column}: {', '.join(map(repr, values))}")
    return found


def upgrade():
    strays = _strays()
    if strays:
        raise RuntimeError(
            "Values outside their vocabulary (fixmyphone/models.py); correct them, then "
            "upgrade again: " + "; ".join(strays)
        )
    for table, rows in _by_table():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, vocabulary in rows:
                batch_op.create_check_constraint(
                    op.f(f"ck_{table}_{column}_valid"), one_of(column, vocabulary)
                )


def downgrade():
    for table, rows in _by_table():
        with op.batch_alter_table(table, schema=None) as batch_op:
            for _, column, _vocabulary in rows:
                batch_op.drop_constraint(op.f(f"ck_{table}_{column}_valid"), type_="check")
