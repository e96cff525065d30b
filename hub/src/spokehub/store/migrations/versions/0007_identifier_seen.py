"""identity: first and last sightings move out of ``identifiers`` into narrow integer rows;
per-profile counts come from a covering index; only redirects are indexed on profiles,
and only removed pairs get an index of their own

Revision ID: 0007
Revises: 0002
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

from spokehub.identity.tables import to_micros

revision = "0007"
down_revision = "0002"
branch_labels = None
depends_on = None

Id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TZ = sa.DateTime(timezone=True)
CHUNK = 5000


def _aware(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def upgrade() -> None:
    bind = op.get_bind()
    op.create_table(
        "identifier_seen",
        sa.Column("identifier_id", Id, nullable=False, autoincrement=False),
        sa.Column("first_seen", sa.BigInteger, nullable=False),
        sa.Column("last_seen", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("identifier_id", name="pk_identifier_seen"),
        sa.ForeignKeyConstraint(
            ["identifier_id"], ["identifiers.id"], name="fk_identifier_seen_identifier_id"
        ),
    )
    old = sa.table(
        "identifiers",
        sa.column("id", Id),
        sa.column("first_seen", TZ),
        sa.column("last_seen", TZ),
    )
    seen = sa.table(
        "identifier_seen",
        sa.column("identifier_id", Id),
        sa.column("first_seen", sa.BigInteger),
        sa.column("last_seen", sa.BigInteger),
    )
    after = 0
    while True:
        rows = bind.execute(
            sa.select(old.c.id, old.c.first_seen, old.c.last_seen)
            .where(old.c.id > after)
            .order_by(old.c.id)
            .limit(CHUNK)
        ).all()
        if not rows:
            break
        bind.execute(
            seen.insert(),
            [
                {
                    "identifier_id": r.id,
                    "first_seen": to_micros(_aware(r.first_seen)),
                    "last_seen": to_micros(_aware(r.last_seen)),
                }
                for r in rows
            ],
        )
        after = rows[-1].id
    # A plain ALTER on both backends (SQLite >= 3.35): no table copy, so the foreign key
    # from the new table is never in the way.
    op.execute("ALTER TABLE identifiers DROP COLUMN first_seen")
    op.execute("ALTER TABLE identifiers DROP COLUMN last_seen")
    op.drop_index("ix_identifiers_contact_id", table_name="identifiers")
    op.create_index("ix_identifiers_contact_id_type", "identifiers", ["contact_id", "type"])
    op.drop_index("ix_profiles_merged_into", table_name="profiles")
    op.create_index(
        "ix_profiles_merged_into",
        "profiles",
        ["merged_into"],
        sqlite_where=sa.text("merged_into IS NOT NULL"),
        postgresql_where=sa.text("merged_into IS NOT NULL"),
    )
    op.create_index(
        "ix_edges_removed",
        "edges",
        ["src_id"],
        sqlite_where=sa.text("status = 'removed'"),
        postgresql_where=sa.text("status = 'removed'"),
    )


def downgrade() -> None:
    op.drop_index("ix_edges_removed", table_name="edges")
    op.drop_index("ix_profiles_merged_into", table_name="profiles")
    op.create_index("ix_profiles_merged_into", "profiles", ["merged_into"])
    op.drop_index("ix_identifiers_contact_id_type", table_name="identifiers")
    op.create_index("ix_identifiers_contact_id", "identifiers", ["contact_id"])
    # Restored as nullable columns: the old NOT NULL would need a table copy on SQLite.
    op.add_column("identifiers", sa.Column("first_seen", TZ, nullable=True))
    op.add_column("identifiers", sa.Column("last_seen", TZ, nullable=True))
    bind = op.get_bind()
    seen = sa.table(
        "identifier_seen",
        sa.column("identifier_id", Id),
        sa.column("first_seen", sa.BigInteger),
        sa.column("last_seen", sa.BigInteger),
    )
    ident = sa.table(
        "identifiers",
        sa.column("id", Id),
        sa.column("first_seen", TZ),
        sa.column("last_seen", TZ),
    )
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    for r in bind.execute(sa.select(seen)).all():
        bind.execute(
            ident.update()
            .where(ident.c.id == r.identifier_id)
            .values(
                first_seen=epoch + timedelta(microseconds=r.first_seen),
                last_seen=epoch + timedelta(microseconds=r.last_seen),
            )
        )
    op.drop_table("identifier_seen")
