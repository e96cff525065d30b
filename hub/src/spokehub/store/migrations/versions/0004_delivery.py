"""delivery: lane state, the delivery attempts log, the outbox claim index

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from spokehub.store.tables import delivery_attempts, delivery_lanes, ix_outbox_unfinished

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

TABLES = (delivery_lanes, delivery_attempts)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)
    # A store created after this index was defined got it with the outbox table (0003).
    ix_outbox_unfinished.create(bind, checkfirst=True)


def downgrade() -> None:
    bind = op.get_bind()
    ix_outbox_unfinished.drop(bind, checkfirst=True)
    for table in reversed(TABLES):
        table.drop(bind)
