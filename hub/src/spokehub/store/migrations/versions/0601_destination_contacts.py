"""destination contacts: which destination holds which contact, for identity changes

Revision ID: 0601
Revises: 0001
"""

from alembic import op

from spokehub.store.tables import destination_contacts

revision = "0601"
down_revision = "0001"
branch_labels = ("destination_contacts",)
depends_on = None


def upgrade() -> None:
    destination_contacts.create(op.get_bind())


def downgrade() -> None:
    destination_contacts.drop(op.get_bind())
