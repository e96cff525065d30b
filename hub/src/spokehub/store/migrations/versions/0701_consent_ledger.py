"""consent: an append-only ledger of every consent decision; ``consents`` becomes the
state derived from it (each current row enters the ledger as its first entry)

Revision ID: 0701
Revises: 0007
"""

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0701"
down_revision = "0007"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
CONTACT_ID = sa.String(36)
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "consent_ledger",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("contact_id", CONTACT_ID, nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.Column("evidence", sa.String(500), nullable=True),
        sa.Column("received_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_consent_ledger"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["profiles.contact_id"], name="fk_consent_ledger_contact_id_profiles"
        ),
    )
    op.create_index(
        "ix_consent_ledger_contact_id_purpose", "consent_ledger", ["contact_id", "purpose"]
    )
    # The decisions recorded before the ledger existed are its first entries, so that
    # the current state can always be derived from it.
    op.execute(
        sa.text(
            "INSERT INTO consent_ledger"
            " (contact_id, purpose, granted, source, recorded_at, evidence, received_at)"
            " SELECT contact_id, purpose, granted, source, recorded_at, 'before the ledger',"
            " :now FROM consents ORDER BY recorded_at"
        ).bindparams(sa.bindparam("now", datetime.now(UTC), type_=TZ))
    )


def downgrade() -> None:
    op.drop_index("ix_consent_ledger_contact_id_purpose", table_name="consent_ledger")
    op.drop_table("consent_ledger")
