"""sync: a run record keeps the source's note on the read (an Airbyte RATE_LIMITED status)

Revision ID: 0901
Revises: 0101
"""

import sqlalchemy as sa
from alembic import op

revision = "0901"
down_revision = "0101"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0101 creates the table as it is defined now, this column included.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("sync_runs")}
    if "notes" in columns:
        return
    with op.batch_alter_table("sync_runs") as batch:
        batch.add_column(sa.Column("notes", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sync_runs") as batch:
        batch.drop_column("notes")
