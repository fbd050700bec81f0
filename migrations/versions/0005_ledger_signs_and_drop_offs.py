"""one sign convention in the stock ledger; drop-off appointments follow their repair

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 05:00:00.000000

Data only. Before this revision the ledger's ``quantity`` was written with two conventions (the
demo seed wrote a consume as -1, the service as +1). From now on it is the signed change to
on-hand stock (receive/return +, consume/sale -), and for reserve/release the signed change to
reserved stock (reserve +, release -); adjust rows keep their sign. Appointments of repairs
already checked in become completed, those of canceled or closed repairs canceled, and both free
their seat, as the booking service now does when those moves happen.
"""

from alembic import op

# revision identifiers, used by Alembic.
revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    op.execute(
        "UPDATE stock_movements SET quantity = -ABS(quantity) "
        "WHERE kind IN ('consume', 'sale', 'release')"
    )
    op.execute(
        "UPDATE stock_movements SET quantity = ABS(quantity) "
        "WHERE kind IN ('receive', 'return', 'reserve')"
    )
    op.execute(
        "UPDATE appointments SET status = 'completed', seat = NULL "
        "WHERE status = 'scheduled' AND service_request_id IN "
        "(SELECT id FROM service_requests WHERE checked_in_at IS NOT NULL)"
    )
    op.execute(
        "UPDATE appointments SET status = 'canceled', seat = NULL, "
        "cancel_reason = 'The repair was canceled.' "
        "WHERE status = 'scheduled' AND service_request_id IN "
        "(SELECT id FROM service_requests WHERE status IN ('canceled', 'closed'))"
    )


def downgrade():
    # The old rows' mixed signs cannot be told apart again; the new convention stays readable
    # by the old code (it only displayed the number), so there is nothing to undo.
    pass
