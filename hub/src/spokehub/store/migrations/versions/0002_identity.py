"""identity: profiles, identifiers, evidence edges, merge log, traits, consents, scores,
accounts and memberships

Revision ID: 0002
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("merged_into", sa.String(36), nullable=True),
        sa.Column("merged_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("contact_id", name="pk_profiles"),
    )
    op.create_index("ix_profiles_merged_into", "profiles", ["merged_into"])
    op.create_table(
        "identifiers",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("type", sa.String(100), nullable=False),
        sa.Column("value", sa.String(1024), nullable=False),
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("first_seen", TZ, nullable=False),
        sa.Column("last_seen", TZ, nullable=False),
        sa.Column("connection", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_identifiers"),
        sa.UniqueConstraint("value", "type", name="uq_identifiers_value_type"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["profiles.contact_id"], name="fk_identifiers_contact_id_profiles"
        ),
    )
    op.create_index("ix_identifiers_contact_id", "identifiers", ["contact_id"])
    op.create_table(
        "edges",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("src_id", Id, nullable=False),
        sa.Column("dst_id", Id, nullable=False),
        sa.Column("record_id", sa.String(200), nullable=False),
        sa.Column("connection", sa.String(200), nullable=False),
        sa.Column("observed_at", TZ, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_edges"),
        sa.UniqueConstraint("src_id", "dst_id", name="uq_edges_src_id_dst_id"),
    )
    op.create_index("ix_edges_dst_id", "edges", ["dst_id"])
    op.create_index("ix_edges_record_id", "edges", ["record_id"])
    op.create_table(
        "merge_log",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("at", TZ, nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("survivor", sa.String(36), nullable=False),
        sa.Column("other", sa.String(36), nullable=True),
        sa.Column("rule", sa.String(32), nullable=True),
        sa.Column("record_id", sa.String(200), nullable=True),
        sa.Column("connection", sa.String(200), nullable=True),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_merge_log"),
    )
    op.create_index("ix_merge_log_survivor", "merge_log", ["survivor"])
    op.create_index("ix_merge_log_other", "merge_log", ["other"])

    def profile_fk(table: str) -> sa.ForeignKeyConstraint:
        return sa.ForeignKeyConstraint(
            ["contact_id"], ["profiles.contact_id"], name=f"fk_{table}_contact_id_profiles"
        )

    op.create_table(
        "traits",
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("connection", sa.String(200), nullable=False),
        sa.Column("value", sa.JSON, nullable=True),
        sa.Column("observed_at", TZ, nullable=False),
        sa.Column("first_value", sa.JSON, nullable=True),
        sa.Column("first_observed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "name", "connection", name="pk_traits"),
        profile_fk("traits"),
    )
    op.create_table(
        "consents",
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("purpose", sa.String(64), nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("recorded_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "purpose", name="pk_consents"),
        profile_fk("consents"),
    )
    op.create_table(
        "scores",
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("value", sa.JSON, nullable=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("computed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("contact_id", "name", name="pk_scores"),
        profile_fk("scores"),
    )
    op.create_table(
        "accounts",
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("name", sa.String(500), nullable=True),
        sa.Column("traits", sa.JSON, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("account_id", name="pk_accounts"),
    )
    op.create_table(
        "memberships",
        sa.Column("id", Id, nullable=False, autoincrement=True),
        sa.Column("contact_id", sa.String(36), nullable=False),
        sa.Column("account_id", sa.String(200), nullable=False),
        sa.Column("role", sa.String(200), nullable=True),
        sa.Column("started_at", TZ, nullable=True),
        sa.Column("ended_at", TZ, nullable=True),
        sa.Column("connection", sa.String(200), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_memberships"),
        profile_fk("memberships"),
    )
    op.create_index("ix_memberships_contact_id", "memberships", ["contact_id"])
    op.create_index("ix_memberships_account_id", "memberships", ["account_id"])


def downgrade() -> None:
    for table in ("memberships", "accounts", "scores", "consents", "traits", "merge_log"):
        op.drop_table(table)
    op.drop_table("edges")
    op.drop_table("identifiers")
    op.drop_table("profiles")
