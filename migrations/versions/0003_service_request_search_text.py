"""one search column for the back office's request search, on one trigram index

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 12:00:00.000000

service_requests.search_text holds reference, IMEI, brand, model and the customer's name, email
and phone, lower-cased, each after a separator (chr 31), ended by one; the app keeps it right
(fixmyphone/services/search.py). One LIKE per search word on it lets PostgreSQL stop after a
page of matches, which the id sets over seven trigram indexes (0002) could not; those seven
indexes go (each cost insert time), a single GIN trigram index on search_text replaces them.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

SEPARATOR = "\x1f"
# 0002's indexes, as it made them.
PER_COLUMN_INDEXES = {
    "service_requests": ("reference", "imei", "brand", "model"),
    "users": ("full_name", "email"),
    "customer_profiles": ("phone",),
}
# Works on PostgreSQL and on SQLite >= 3.33 (UPDATE ... FROM). The customer part comes from a
# subquery so that customers without a profile keep their repairs.
BACKFILL = """
UPDATE service_requests SET search_text = lower(
    :sep || coalesce(service_requests.reference, '') || :sep || coalesce(service_requests.imei, '')
    || :sep || coalesce(service_requests.brand, '') || :sep || coalesce(service_requests.model, '')
    || :sep || coalesce(customer.full_name, '') || :sep || coalesce(customer.email, '')
    || :sep || coalesce(customer.phone, '') || :sep
)
FROM (
    SELECT users.id AS id, users.full_name AS full_name, users.email AS email,
           customer_profiles.phone AS phone
    FROM users LEFT OUTER JOIN customer_profiles ON customer_profiles.user_id = users.id
) AS customer
WHERE customer.id = service_requests.customer_id
"""


def _postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _trigram_index(table: str, column: str) -> None:
    op.create_index(
        f"ix_{table}_{column}_trgm",
        table,
        [column],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={column: "gin_trgm_ops"},
    )


def upgrade():
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("search_text", sa.Text(), server_default="", nullable=False))
    op.get_bind().execute(sa.text(BACKFILL), {"sep": SEPARATOR})
    if not _postgresql():
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    _trigram_index("service_requests", "search_text")
    for table, columns in PER_COLUMN_INDEXES.items():
        for column in columns:
            op.drop_index(f"ix_{table}_{column}_trgm", table_name=table)


def downgrade():
    if _postgresql():
        for table, columns in PER_COLUMN_INDEXES.items():
            for column in columns:
                _trigram_index(table, column)
        op.drop_index("ix_service_requests_search_text_trgm", table_name="service_requests")
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_column("search_text")
