"""delivery: lane state and the delivery attempts log

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from spokehub.store.tables import delivery_attempts, delivery_lanes

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = (delivery_lanes, delivery_attempts)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
