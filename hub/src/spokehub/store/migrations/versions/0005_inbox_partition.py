"""inbox: an index on (partition_key, id) for the PostgreSQL claim's person-order check

Revision ID: 0005
Revises: 0003
"""

from alembic import op

revision = "0005"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEX = "ix_inbox_partition_key_id"


def upgrade() -> None:
    # Only PostgreSQL claims filter on partition_key (several workers share the inbox
    # there); on SQLite one writer claims in plain id order, so the index would only slow
    # every ingestion write down.
    if op.get_bind().dialect.name == "postgresql":
        op.create_index(INDEX, "inbox", ["partition_key", "id"])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.drop_index(INDEX, table_name="inbox")
