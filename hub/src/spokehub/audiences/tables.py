"""Audience tables: who is in each audience since when, and each audience's last reconcile.

Defined on the store's shared ``metadata``; migration ``0401`` creates exactly these.
"""

from __future__ import annotations

from sqlalchemy import Column, DateTime, Index, String, Table

from spokehub.identity.tables import CONTACT_ID
from spokehub.store.tables import metadata

#: One row per (audience, profile) that was ever in it: ``exited_at`` is NULL while the
#: profile is a member; entering again clears it and moves ``entered_at``.
audience_members = Table(
    "audience_members",
    metadata,
    Column("audience", String(100), primary_key=True),
    Column("contact_id", CONTACT_ID, primary_key=True),
    Column("entered_at", DateTime(timezone=True), nullable=False),
    Column("exited_at", DateTime(timezone=True), nullable=True),
    Index("ix_audience_members_contact_id", "contact_id"),
)

#: Per audience: the definition its members were computed with (a digest) and the moment
#: of its last reconcile. A new or changed definition is recomputed in full; otherwise a
#: reconcile looks only at the profiles whose events crossed a window's edge since then.
audience_state = Table(
    "audience_state",
    metadata,
    Column("audience", String(100), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("reconciled_at", DateTime(timezone=True), nullable=False),
)

#: The index a reconcile's drift query reads: events of a name between two moments.
#: Created by migration 0401 on the data path's ``events`` table, not declared on it (its
#: own migration creates it from the table's declaration).
EVENTS_BY_NAME = "ix_events_event_timestamp"
