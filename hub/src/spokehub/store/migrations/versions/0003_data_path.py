"""data path: inbox, message ids, quarantine, events, outbox

Revision ID: 0003
Revises: 0001
"""

from alembic import op

from spokehub.store.tables import events, inbox, message_ids, outbox, quarantine

revision = "0003"
down_revision = "0001"
branch_labels = ("data_path",)
depends_on = None

TABLES = (inbox, message_ids, quarantine, events, outbox)


def upgrade() -> None:
    bind = op.get_bind()
    for table in TABLES:
        table.create(bind)


def downgrade() -> None:
    bind = op.get_bind()
    for table in reversed(TABLES):
        table.drop(bind)
