"""Identity tables: profiles, identifiers, evidence edges and the merge log.

Defined on the store's shared ``metadata``; migration ``0002`` creates exactly these.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeDecorator

from spokehub.store.tables import metadata

#: SQLite only aliases the rowid (and so auto-increments) for a column typed INTEGER.
Id = BigInteger().with_variant(Integer(), "sqlite")

CONTACT_ID = String(36)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


def to_micros(value: datetime) -> int:
    """Microseconds since the Unix epoch (naive values are taken as UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return (value - EPOCH) // MICROSECOND


class Micros(TypeDecorator[datetime]):
    """A UTC timestamp stored as microseconds since the epoch: eight bytes instead of
    SQLite's 26 characters of text, for rows that are rewritten often."""

    impl = BigInteger
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> int | None:
        return None if value is None else to_micros(value)

    def process_result_value(self, value: int | None, dialect: Any) -> datetime | None:
        return None if value is None else EPOCH + value * MICROSECOND


#: One row per central contact ID ever issued. ``merged_into`` is NULL for a live profile
#: and names the live survivor for an absorbed one (redirects are kept one hop deep).
profiles = Table(
    "profiles",
    metadata,
    Column("contact_id", CONTACT_ID, primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("merged_into", CONTACT_ID, nullable=True),
    Column("merged_at", DateTime(timezone=True), nullable=True),
    # Only absorbed profiles carry a redirect; live ones (NULL) stay out of the index.
    Index(
        "ix_profiles_merged_into",
        "merged_into",
        sqlite_where=text("merged_into IS NOT NULL"),
        postgresql_where=text("merged_into IS NOT NULL"),
    ),
)

#: Every identifier ever seen (normalized), the live profile holding it and the connection
#: that first showed it. Resolution rewrites a row only when its profile changes.
identifiers = Table(
    "identifiers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("type", String(100), nullable=False),
    Column("value", String(1024), nullable=False),
    Column("contact_id", CONTACT_ID, ForeignKey("profiles.contact_id"), nullable=False),
    Column("connection", String(200), nullable=False),
    # value first: batch lookups select by value and filter the type in memory.
    UniqueConstraint("value", "type", name="uq_identifiers_value_type"),
    # Covers the per-profile counts by type the limit rules ask for.
    Index("ix_identifiers_contact_id_type", "contact_id", "type"),
)

#: When each identifier was first and last seen. Kept apart from ``identifiers`` and in
#: narrow integer rows because nearly every record moves some identifier's last sighting:
#: rewriting these rows dirties a fraction of the pages rewriting the wide rows would.
identifier_seen = Table(
    "identifier_seen",
    metadata,
    Column(
        "identifier_id", Id, ForeignKey("identifiers.id"), primary_key=True, autoincrement=False
    ),
    Column("first_seen", Micros(), nullable=False),
    Column("last_seen", Micros(), nullable=False),
)

#: Evidence: two identifiers seen together in one record. One row per pair (``src_id`` <
#: ``dst_id``), carrying the first record that showed it. ``status`` is ``active`` (part of
#: its profile), ``rejected`` (a rule refused it; ``reason`` says which) or ``removed`` (an
#: operator's unmerge; removal is sticky, later records showing the pair do not revive it).
edges = Table(
    "edges",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("src_id", Id, nullable=False),
    Column("dst_id", Id, nullable=False),
    Column("record_id", String(200), nullable=False),
    Column("connection", String(200), nullable=False),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    Column("reason", String(32), nullable=True),
    UniqueConstraint("src_id", "dst_id", name="uq_edges_src_id_dst_id"),
    Index("ix_edges_dst_id", "dst_id"),
    # Resolution asks, for every batch, which pairs an operator removed: a tiny index.
    Index(
        "ix_edges_removed",
        "src_id",
        sqlite_where=text("status = 'removed'"),
        postgresql_where=text("status = 'removed'"),
    ),
    Index("ix_edges_record_id", "record_id"),
)

#: Every identity decision: merges, refused merges, splits and unmerges, with their evidence.
merge_log = Table(
    "merge_log",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("action", String(16), nullable=False),
    Column("survivor", CONTACT_ID, nullable=False),
    Column("other", CONTACT_ID, nullable=True),
    Column("rule", String(32), nullable=True),
    Column("record_id", String(200), nullable=True),
    Column("connection", String(200), nullable=True),
    Column("detail", JSON, nullable=False),
    Index("ix_merge_log_survivor", "survivor"),
    Index("ix_merge_log_other", "other"),
)
