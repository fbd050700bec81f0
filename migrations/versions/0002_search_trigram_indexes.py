"""trigram indexes for the back office's substring search (PostgreSQL only)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 10:00:00.000000

The admin request list searches reference, IMEI, brand, model, customer name, email and phone
with ILIKE '%text%'; a B-tree cannot serve that, a pg_trgm GIN index can. SQLite has no such
index, so there this migration does nothing (the models declare the indexes PostgreSQL-only).
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TRIGRAM_COLUMNS = {
    "service_requests": ("reference", "imei", "brand", "model"),
    "users": ("full_name", "email"),
    "customer_profiles": ("phone",),
}


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade():
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for table, columns in TRIGRAM_COLUMNS.items():
        for column in columns:
            op.create_index(
                f"ix_{table}_{column}_trgm",
                table,
                [column],
                unique=False,
                postgresql_using="gin",
                postgresql_ops={column: "gin_trgm_ops"},
            )


def downgrade():
    if not _postgresql():
        return
    for table, columns in TRIGRAM_COLUMNS.items():
        for column in columns:
            op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)
    # The pg_trgm extension stays: other objects may use it, and dropping it needs ownership.
