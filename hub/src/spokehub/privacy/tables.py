"""The privacy tables: requests, their receipt per destination, and the tombstones that
keep an erased person's identifiers out.

None of them holds personal data once a request is done: a request keeps its subject's
identifiers only until the hub has carried it out (an access request until the subject
is erased), receipts name destinations and the vendors' references, and a tombstone is
a salted hash.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Column, DateTime, Index, Integer, String, Table, Text

from spokehub.store.tables import metadata

#: One row per request, whatever it came through (API, CLI, a source's record).
#: status: pending → erasing → waiting (for destinations' receipts) → done | failed.
privacy_requests = Table(
    "privacy_requests",
    metadata,
    Column("id", String(40), primary_key=True),
    Column("action", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("source", String(200), nullable=False),  # api | cli | a source connection
    Column("requested_by", String(200)),  # the token's name, or the source connection
    Column("reference", String(256)),  # the tool's own id for the request
    Column("reason", Text),
    # ["type:value", ...] until carried out; kept for access requests until an erasure.
    Column("subject", JSON),
    Column("contact_ids", JSON),  # the profiles it concerned (random IDs, not personal)
    Column("summary", JSON),  # rows erased per table, identifiers suppressed
    Column("error", Text),
    Column("requested_at", DateTime(timezone=True), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("erased_at", DateTime(timezone=True)),
    # When a process took it (status erasing): one that died is taken again after a while.
    Column("claimed_at", DateTime(timezone=True)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_privacy_requests_status", "status"),
)

#: What each destination did with a request's erasure.
#: status: pending | deleted | failed | not_supported.
privacy_receipts = Table(
    "privacy_receipts",
    metadata,
    Column("request_id", String(40), primary_key=True),
    Column("destination", String(200), primary_key=True),
    Column("status", String(16), nullable=False),
    Column("outbox_id", BigInteger),
    Column("reference", String(512)),  # the vendor's id for its deletion, if it answered one
    Column("detail", Text),  # why it failed or is not supported (redacted)
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Index("ix_privacy_receipts_status", "status"),
)

#: Identifiers that may not come back: HMAC-SHA256 of ``type:value`` under the store's salt.
suppressions = Table(
    "suppressions",
    metadata,
    Column("hash", String(64), primary_key=True),
    Column("request_id", String(40), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("dropped", Integer, nullable=False, server_default="0"),
    Column("last_dropped_at", DateTime(timezone=True)),
    Index("ix_suppressions_request_id", "request_id"),
)

#: Settings of the privacy part that live in the store: the tombstones' salt.
privacy_settings = Table(
    "privacy_settings",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

TABLES = (privacy_requests, privacy_receipts, suppressions, privacy_settings)
