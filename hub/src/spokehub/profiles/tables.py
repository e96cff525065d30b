"""Profile tables: traits with provenance, the consent ledger and current consents,
scores, accounts and memberships.

Defined on the store's shared ``metadata``; migration ``0002`` creates them, ``0701``
adds the consent ledger.
"""

from __future__ import annotations

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, String, Table

from spokehub.identity.tables import CONTACT_ID, Id
from spokehub.store.tables import metadata

#: One row per (profile, trait, connection): the latest and the first value that connection
#: reported. Survivorship policies pick among the rows at read time, so changing a policy
#: needs no rewrite and a merge only moves rows.
traits = Table(
    "traits",
    metadata,
    Column("contact_id", CONTACT_ID, ForeignKey("profiles.contact_id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("connection", String(200), primary_key=True),
    Column("value", JSON, nullable=True),
    Column("observed_at", DateTime(timezone=True), nullable=False),
    Column("first_value", JSON, nullable=True),
    Column("first_observed_at", DateTime(timezone=True), nullable=False),
)

#: The current decision per purpose: derived from :data:`consent_ledger` (the latest
#: recorded decision wins; at the same instant a denial beats a grant) and kept in step with
#: it in the same transaction, so the delivery gate reads one row per purpose.
consents = Table(
    "consents",
    metadata,
    Column("contact_id", CONTACT_ID, ForeignKey("profiles.contact_id"), primary_key=True),
    Column("purpose", String(64), primary_key=True),
    Column("granted", Boolean, nullable=False),
    Column("source", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
)

#: Every consent decision the hub was told of, appended and never rewritten (a merge moves
#: the absorbed profile's rows to the survivor): who, which purpose, granted or denied,
#: the connection it came through, when it was decided, the evidence (a message id, a
#: webhook event id, an API caller's reference) and when the hub recorded it.
consent_ledger = Table(
    "consent_ledger",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", CONTACT_ID, ForeignKey("profiles.contact_id"), nullable=False),
    Column("purpose", String(64), nullable=False),
    Column("granted", Boolean, nullable=False),
    Column("source", String(200), nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("evidence", String(500), nullable=True),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_consent_ledger_contact_id_purpose", "contact_id", "purpose"),
)

#: Model scores and computed traits (the latest computation per name wins).
scores = Table(
    "scores",
    metadata,
    Column("contact_id", CONTACT_ID, ForeignKey("profiles.contact_id"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("value", JSON, nullable=True),
    Column("model", String(200), nullable=False),
    Column("computed_at", DateTime(timezone=True), nullable=False),
)

#: Organisations (B2B), keyed by the account ID the sources agree on.
accounts = Table(
    "accounts",
    metadata,
    Column("account_id", String(200), primary_key=True),
    Column("name", String(500), nullable=True),
    Column("traits", JSON, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

#: A person's memberships of accounts. Ending one keeps the row (with ``ended_at``); a new
#: employer is a new row, so the person's history stays theirs.
memberships = Table(
    "memberships",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("contact_id", CONTACT_ID, ForeignKey("profiles.contact_id"), nullable=False),
    Column("account_id", String(200), nullable=False),
    Column("role", String(200), nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("connection", String(200), nullable=False),
    Index("ix_memberships_contact_id", "contact_id"),
    Index("ix_memberships_account_id", "account_id"),
)
