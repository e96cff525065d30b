"""privacy: erasure and access requests, their receipts per destination, tombstones

Revision ID: 0801
Revises: 0001
"""

from alembic import op

from spokehub.privacy.tables import TABLES

revision = "0801"
down_revision = "0001"
branch_labels = ("privacy",)
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
