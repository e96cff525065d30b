"""Table definitions (SQLAlchemy Core). The alembic migrations create exactly these.

Core rather than ORM: the pipeline and identity resolution work set-based, in bulk,
and the same statements must run on SQLite and PostgreSQL.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    false,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
    }
)

#: Where each pulled stream resumes. Written in the same transaction as the records it covers.
source_state = Table(
    "source_state",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("stream", String(200), primary_key=True),
    Column("state", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# -- the data path: inbox → pipeline → outbox ----------------------------------------

#: SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants BIGINT.
BigId = BigInteger().with_variant(Integer(), "sqlite")

#: Every record enters here first and is acknowledged only once committed.
inbox = Table(
    "inbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection", String(200), nullable=False),
    Column("kind", String(20), nullable=False),  # "event" (Segment message) or "record"
    Column("message_id", String(256)),
    Column("partition_key", String(512)),  # keeps one person's rows in order across workers
    Column("body", Text, nullable=False),  # JSON
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("claimed_by", String(64)),
    Column("claimed_until", DateTime(timezone=True)),
    Column("processed_at", DateTime(timezone=True)),
    Index("ix_inbox_status_id", "status", "id"),
    # ix_inbox_partition_key_id (partition_key, id) exists on PostgreSQL only, where the
    # claim keeps each person's rows in order across workers. Migration 0005 creates it;
    # it is deliberately not declared here, or 0003's ``inbox.create()`` would create it
    # too (and on SQLite, where nothing reads it).
)

#: messageIds seen per source connection, for de-duplication within a window.
message_ids = Table(
    "message_ids",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("message_id", String(256), primary_key=True),
    Column("received_at", DateTime(timezone=True), nullable=False, index=True),
)

#: Records that broke the contract or could not be processed, kept with their reason.
quarantine = Table(
    "quarantine",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("inbox_id", BigInteger),
    Column("connection", String(200), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("body", Text, nullable=False),
    # validate | contract | transform | resolve | privacy
    Column("stage", String(32), nullable=False),
    Column("field", String(256), nullable=False),
    Column("rule", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("replayed_at", DateTime(timezone=True)),
    Index("ix_quarantine_connection_id", "connection", "id"),
)

#: Events as stored on the profile (the 360 view's timeline).
events = Table(
    "events",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("contact_id", String(64), nullable=False),
    Column("connection", String(200), nullable=False),
    Column("message_id", String(256)),
    Column("type", String(16), nullable=False),
    Column("event", String(512)),
    Column("properties", JSON, nullable=False),
    Column("context", JSON, nullable=False),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_events_contact_id_id", "contact_id", "id"),
)

#: What each destination must receive. Delivery lanes claim due rows per destination.
#: status: pending | inflight | delivered | retry | dead | suppressed.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("destination", String(200), nullable=False),
    Column("route", String(200)),
    Column("contact_id", String(64)),
    Column("kind", String(32), nullable=False),
    Column("purpose", String(32)),  # consent purpose the send serves, if any
    Column("item", Text, nullable=False),  # the Change as JSON
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False, server_default="pending"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("claimed_until", DateTime(timezone=True)),
    Column("last_error", Text),
    Column("external_id", String(512)),
    Column("finished_at", DateTime(timezone=True)),
    Index("ix_outbox_destination_status_due_at", "destination", "status", "due_at"),
    Index("ix_outbox_contact_id", "contact_id"),
)

#: Which destination connection holds which contact, kept beyond any outbox retention: a
#: row is written when a change about the contact is delivered there, and removed when an
#: erasure or a merge of that contact is. Identity changes (merge, unmerge) go to the
#: destinations listed here. ``external_id`` is the destination's own id for the contact,
#: when its deliveries answer one; ``identifiers`` those it was last sent, ``[[type, value]]``.
destination_contacts = Table(
    "destination_contacts",
    metadata,
    Column("destination", String(200), primary_key=True),
    Column("contact_id", String(64), primary_key=True),
    Column("external_id", String(512)),
    Column("identifiers", JSON, nullable=False),
    Column("first_delivered_at", DateTime(timezone=True), nullable=False),
    Column("last_delivered_at", DateTime(timezone=True), nullable=False),
    Index("ix_destination_contacts_contact_id", "contact_id"),
)

# -- the data contract -----------------------------------------------------------------

#: Every published (live) contract, newest last.
contract_versions = Table(
    "contract_versions",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("version", String(64)),
    Column("spec", Text, nullable=False),  # EffectiveContract as JSON
    Column("breaking", Boolean, nullable=False, server_default=false()),
    Column("published_at", DateTime(timezone=True), nullable=False),
)

#: Violation counters per source, event, field, rule and outcome (mode:action).
contract_violations = Table(
    "contract_violations",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("event", String(512), primary_key=True),
    Column("field", String(256), primary_key=True),
    Column("rule", String(512), primary_key=True),
    Column("outcome", String(32), primary_key=True),
    Column("count", BigInteger, nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
)

# -- delivery ------------------------------------------------------------------------

#: One row per destination connection that has run a lane. A lane is paused while
#: ``paused_at`` is set (an auth failure, or an operator), with ``reason`` saying why; the
#: pause survives restarts. ``seen_at`` is the running lane's heartbeat.
delivery_lanes = Table(
    "delivery_lanes",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("paused_at", DateTime(timezone=True)),
    Column("reason", Text),
    Column("last_error", Text),  # redacted
    Column("last_error_at", DateTime(timezone=True)),
    Column("seen_at", DateTime(timezone=True)),
)

#: One row per call to a destination (write or forget): how long it took and what came of
#: it. Feeds the rate and latency figures of ``spokehub deliveries status``.
delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("destination", String(200), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("items", Integer, nullable=False),
    Column("delivered", Integer, nullable=False, server_default="0"),
    Column("retried", Integer, nullable=False, server_default="0"),
    Column("rejected", Integer, nullable=False, server_default="0"),
    # ok | partial | auth | throttled | transient | permanent | error
    Column("result", String(16), nullable=False),
    Column("error", Text),  # redacted
    Index("ix_delivery_attempts_destination_started_at", "destination", "started_at"),
)

#: Delivery's claim path: one destination's unfinished rows in outbox order. Partial, so it
#: stays as small as the queue however long the outbox history grows.
ix_outbox_unfinished = Index(
    "ix_outbox_unfinished",
    outbox.c.destination,
    outbox.c.id,
    sqlite_where=outbox.c.status.in_(("pending", "retry", "inflight")),
    postgresql_where=outbox.c.status.in_(("pending", "retry", "inflight")),
)

# -- sync runs -------------------------------------------------------------------------

#: One row per run of one stream of a source connection: what it read, where it stopped
#: and why. status: running | succeeded | failed | interrupted. A ``running`` row whose
#: process died is marked ``interrupted`` by the next run that takes the lease over.
#: ``records``, ``rejected`` and ``checkpoints`` count what has been committed, and are
#: written in the same transaction as the records they count.
sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", BigId, primary_key=True, autoincrement=True),
    Column("connection", String(200), nullable=False),
    Column("stream", String(200), nullable=False),
    Column("holder", String(128), nullable=False),  # the process that ran it
    Column("full_refresh", Boolean, nullable=False, server_default=false()),
    Column("status", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("records", BigInteger, nullable=False, server_default="0"),
    Column("rejected", BigInteger, nullable=False, server_default="0"),
    Column("checkpoints", Integer, nullable=False, server_default="0"),
    Column("last_checkpoint_at", DateTime(timezone=True)),
    Column("error", Text),  # redacted; for interrupted runs, what stopped them
    Column("notes", Text),  # the source's note on the read (RATE_LIMITED, …)
    Index("ix_sync_runs_connection_id", "connection", "id"),
    Index("ix_sync_runs_status", "status"),
)

#: Who runs a source connection now: one row per connection while a run holds it. A
#: holder renews ``expires_at`` while it runs; a row past its expiry belongs to a process
#: that died and is taken over by the next run. Works the same on SQLite and PostgreSQL
#: (an upsert whose update only applies to an expired row or to its own holder).
sync_leases = Table(
    "sync_leases",
    metadata,
    Column("connection", String(200), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("acquired_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
)
