"""Journey timers: one durable row per scheduled send.

Defined on the store's shared ``metadata``; migration ``0401`` creates exactly these.
"""

from __future__ import annotations

from sqlalchemy import JSON, Column, DateTime, Index, String, Table, Text, text

from spokehub.identity.tables import CONTACT_ID, Id
from spokehub.store.tables import metadata

#: status: ``scheduled`` (waiting for ``due_at``), ``fired`` (its event is in the outbox,
#: written in the same transaction) or ``cancelled`` (``reason`` says why).
journey_timers = Table(
    "journey_timers",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("journey", String(100), nullable=False),
    Column("contact_id", CONTACT_ID, nullable=False),
    Column("due_at", DateTime(timezone=True), nullable=False),
    Column("status", String(16), nullable=False),
    #: The properties of the event that started it (``trigger.*`` fields read them).
    Column("trigger", JSON, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True), nullable=True),
    Column("reason", Text, nullable=True),
    Index("ix_journey_timers_contact_id", "contact_id", "journey"),
    # The runner's look for due timers reads only the waiting ones.
    Index(
        "ix_journey_timers_due_at",
        "due_at",
        sqlite_where=text("status = 'scheduled'"),
        postgresql_where=text("status = 'scheduled'"),
    ),
    # At most one waiting timer per profile and journey, whatever races.
    Index(
        "uq_journey_timers_waiting",
        "journey",
        "contact_id",
        unique=True,
        sqlite_where=text("status = 'scheduled'"),
        postgresql_where=text("status = 'scheduled'"),
    ),
)
