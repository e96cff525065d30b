"""privacy: when a request was taken for carrying out, so one whose process died is taken again

Revision ID: 0802
Revises: 0801
"""

import sqlalchemy as sa
from alembic import op

revision = "0802"
down_revision = "0801"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # 0801 creates the tables as they are defined now, this column included.
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("privacy_requests")}
    if "claimed_at" in columns:
        return
    with op.batch_alter_table("privacy_requests") as batch:
        batch.add_column(sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("privacy_requests") as batch:
        batch.drop_column("claimed_at")
