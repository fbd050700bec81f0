"""itemised estimates, the charges an approval makes, no-charge decisions, walk-in sales

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 03:10:00.000000

- estimate_lines: the estimate staff build on a repair (part, labour, fee, discount lines,
  amounts in minor units, per-line tax exemption); the estimate's state stays in the
  service_requests.quote_* columns (a "draft" state is new) and estimate_version counts sends.
- repair_charges: the lines of the estimate version the customer approved.
- service_requests.no_charge_reason/_by_id/_at: who decided a repair is free, when and why.
- invoice_lines.kind; invoices.bill_to_name; invoices.service_request_id and customer_id,
  payments.service_request_id and customer_id become optional (walk-in sales at the counter);
  a payment names a repair or an invoice; payments.tendered (cash handed over).
- parts.sellable: accessories the counter may sell without a repair.

Existing single-amount quotes become one-line estimates (a fee line of the quoted amount), and
approved ones become that repair's charges, so invoices issued after the upgrade bill the same.
"""

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

LINE_KINDS = "('part', 'labour', 'fee', 'discount')"


def _line_table(name: str, *extra: sa.Column) -> None:
    op.create_table(
        name,
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("service_request_id", sa.Integer(), nullable=False),
        *extra,
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("part_id", sa.Integer(), nullable=True),
        sa.Column("request_part_id", sa.Integer(), nullable=True),
        sa.Column("description", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("minutes", sa.Integer(), nullable=True),
        sa.Column("unit_amount", sa.Integer(), nullable=False),
        sa.Column("net_amount", sa.Integer(), nullable=False),
        sa.Column("tax_exempt", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"kind IN {LINE_KINDS}", name=op.f(f"ck_{name}_kind_valid")),
        sa.CheckConstraint(
            "minutes IS NULL OR minutes > 0", name=op.f(f"ck_{name}_minutes_positive")
        ),
        sa.CheckConstraint("quantity > 0", name=op.f(f"ck_{name}_quantity_positive")),
        sa.CheckConstraint("unit_amount >= 0", name=op.f(f"ck_{name}_unit_amount_not_negative")),
        sa.ForeignKeyConstraint(["part_id"], ["parts.id"], name=op.f(f"fk_{name}_part_id_parts")),
        sa.ForeignKeyConstraint(
            ["request_part_id"],
            ["request_parts.id"],
            name=op.f(f"fk_{name}_request_part_id_request_parts"),
        ),
        sa.ForeignKeyConstraint(
            ["service_request_id"],
            ["service_requests.id"],
            name=op.f(f"fk_{name}_service_request_id_service_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f(f"pk_{name}")),
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        for column in ("part_id", "request_part_id", "service_request_id"):
            batch_op.create_index(batch_op.f(f"ix_{name}_{column}"), [column], unique=False)


# Old quotes → one fee line each; approved ones → the repair's charges (version 1).
BACKFILL_LINES = """
INSERT INTO {table} (service_request_id, {extra_column} kind, description, quantity,
                     unit_amount, net_amount, tax_exempt, created_at)
SELECT id, {extra_value} 'fee',
       CASE WHEN quote_details IS NULL OR quote_details = '' THEN 'Repair as quoted'
            ELSE substr('Repair as quoted: ' || quote_details, 1, 300) END,
       1, quote_amount, quote_amount, false, coalesce(quote_sent_at, created_at)
FROM service_requests
WHERE quote_amount IS NOT NULL AND quote_amount > 0 AND quote_status != 'none' {condition}
"""


def upgrade():
    _line_table(
        "estimate_lines",
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["created_by_id"], ["users.id"], name=op.f("fk_estimate_lines_created_by_id_users")
        ),
    )
    with op.batch_alter_table("estimate_lines", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_estimate_lines_created_by_id"), ["created_by_id"], unique=False
        )
    _line_table("repair_charges", sa.Column("estimate_version", sa.Integer(), nullable=False))

    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=10), nullable=True))

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("bill_to_name", sa.String(length=120), nullable=True))
        batch_op.alter_column("service_request_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)

    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("sellable", sa.Boolean(), server_default=sa.text("false"), nullable=False)
        )

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("tendered", sa.Integer(), nullable=True))
        batch_op.alter_column("service_request_id", existing_type=sa.Integer(), nullable=True)
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)
        batch_op.create_check_constraint(
            "paid_for_something", "service_request_id IS NOT NULL OR invoice_id IS NOT NULL"
        )

    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("no_charge_reason", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("no_charge_by_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("no_charge_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("estimate_version", sa.Integer(), server_default=sa.text("0"), nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_service_requests_no_charge_by_id"), ["no_charge_by_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_service_requests_no_charge_by_id_users"),
            "users",
            ["no_charge_by_id"],
            ["id"],
        )

    op.execute(
        BACKFILL_LINES.format(table="estimate_lines", extra_column="", extra_value="", condition="")
    )
    op.execute(
        BACKFILL_LINES.format(
            table="repair_charges",
            extra_column="estimate_version,",
            extra_value="1,",
            condition="AND quote_status = 'approved'",
        )
    )
    op.execute(
        "UPDATE service_requests SET estimate_version = 1 "
        "WHERE quote_amount IS NOT NULL AND quote_amount > 0 AND quote_status != 'none'"
    )
    op.execute(
        "UPDATE service_requests SET no_charge_reason = 'Warranty rework' "
        "WHERE no_charge = true AND no_charge_reason IS NULL"
    )


def downgrade():
    bind = op.get_bind()
    walk_ins = bind.scalar(
        sa.text(
            "SELECT (SELECT count(*) FROM invoices WHERE service_request_id IS NULL) + "
            "(SELECT count(*) FROM payments WHERE service_request_id IS NULL)"
        )
    )
    if walk_ins:
        # Before 0004 every invoice and payment belonged to a repair: nowhere to keep these.
        raise RuntimeError(
            f"{walk_ins} walk-in sale invoices/payments exist; back them up and remove them "
            "before downgrading below 0004."
        )
    with op.batch_alter_table("service_requests", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_service_requests_no_charge_by_id_users"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_service_requests_no_charge_by_id"))
        batch_op.drop_column("estimate_version")
        batch_op.drop_column("no_charge_at")
        batch_op.drop_column("no_charge_by_id")
        batch_op.drop_column("no_charge_reason")

    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_payments_paid_for_something"), type_="check")
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("service_request_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("tendered")

    with op.batch_alter_table("parts", schema=None) as batch_op:
        batch_op.drop_column("sellable")

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.Integer(), nullable=False)
        batch_op.alter_column("service_request_id", existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column("bill_to_name")

    with op.batch_alter_table("invoice_lines", schema=None) as batch_op:
        batch_op.drop_column("kind")

    for name in ("repair_charges", "estimate_lines"):
        with op.batch_alter_table(name, schema=None) as batch_op:
            for column in ("service_request_id", "request_part_id", "part_id"):
                batch_op.drop_index(batch_op.f(f"ix_{name}_{column}"))
            if name == "estimate_lines":
                batch_op.drop_index(batch_op.f("ix_estimate_lines_created_by_id"))
        op.drop_table(name)
