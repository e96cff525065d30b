"""data contract: published versions and violation counters

Revision ID: 0006
Revises: 0001
"""

from alembic import op

from spokehub.store.tables import contract_versions, contract_violations

revision = "0006"
down_revision = "0001"
branch_labels = ("contract",)
depends_on = None

TABLES = (contract_versions, contract_violations)


def upgrade() -> None:
    for table in TABLES:
        table.create(op.get_bind())


def downgrade() -> None:
    for table in reversed(TABLES):
        table.drop(op.get_bind())
