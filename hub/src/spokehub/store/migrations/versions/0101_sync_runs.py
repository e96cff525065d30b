"""sync: run records and the lease that keeps one run per source connection

Revision ID: 0101
Revises: 0001
"""

from alembic import op

from spokehub.store.tables import sync_leases, sync_runs

revision = "0101"
down_revision = "0001"
branch_labels = ("sync",)
depends_on = None

TABLES = (sync_runs, sync_leases)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
