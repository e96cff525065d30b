"""alembic environment: the engine comes from the caller (``spokehub db upgrade``)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from spokehub.store.tables import metadata

engine = context.config.attributes["engine"]

#: Key of the PostgreSQL advisory lock that serializes migrations (any stable number).
_MIGRATION_LOCK = 0x5B0CE_4B

with engine.begin() as connection:
    if connection.dialect.name == "postgresql":
        # Several daemons started at once on a new database all migrate it: the first
        # applies the revisions, the others wait here and then find nothing left to do.
        # (SQLite needs no lock: BEGIN IMMEDIATE already makes one writer at a time.)
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK})
    context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
    context.run_migrations()
