"""The 360 view of one profile: identifiers, traits with provenance, accounts and
memberships, consents and their history, scores, recent events and audiences."""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, MetaData, Table, inspect, select

from spokehub.identity import IdentityRules, UnknownIdentifier
from spokehub.identity.lookup import live_contact_id
from spokehub.identity.tables import identifier_seen, identifiers, profiles
from spokehub.store.driver_sql import utc

from .consent import history as consent_history
from .tables import accounts, consents, memberships, scores
from .traits import resolved_traits


class IdentifierView(BaseModel):
    type: str
    value: str
    first_seen: datetime
    last_seen: datetime
    connection: str


class TraitView(BaseModel):
    value: Any
    connection: str
    observed_at: datetime
    strategy: str
    #: The value as the connection sent it, where the hub normalized it (an e-mail trait).
    raw: Any = None


class MembershipView(BaseModel):
    account_id: str
    account_name: str | None
    role: str | None
    started_at: datetime | None
    ended_at: datetime | None
    connection: str


class ConsentView(BaseModel):
    granted: bool
    source: str
    recorded_at: datetime


class ConsentEntryView(BaseModel):
    """One entry of the consent ledger."""

    purpose: str
    granted: bool
    source: str
    recorded_at: datetime
    evidence: str | None
    received_at: datetime


class ScoreView(BaseModel):
    value: Any
    model: str
    computed_at: datetime


class ProfileView(BaseModel):
    """Everything the hub knows about one person.

    ``merged_ids`` are absorbed contact IDs that redirect here. ``consents`` is the
    current decision per purpose, ``consent_history`` the ledger it is derived from. ``events`` and
    ``audiences`` are empty when the store has no such tables yet.
    """

    contact_id: str
    created_at: datetime
    merged_ids: list[str] = Field(default_factory=list)
    identifiers: list[IdentifierView] = Field(default_factory=list)
    traits: dict[str, TraitView] = Field(default_factory=dict)
    memberships: list[MembershipView] = Field(default_factory=list)
    consents: dict[str, ConsentView] = Field(default_factory=dict)
    consent_history: list[ConsentEntryView] = Field(default_factory=list)
    scores: dict[str, ScoreView] = Field(default_factory=dict)
    events: list[dict[str, Any]] = Field(default_factory=list)
    audiences: list[dict[str, Any]] = Field(default_factory=list)


def _optional_table(conn: Connection, name: str, needs: set[str]) -> Table | None:
    """Reflect ``name`` if it exists with the columns ``needs`` (tables other parts own)."""
    if not inspect(conn).has_table(name):
        return None
    table = Table(name, MetaData(), autoload_with=conn)
    return table if needs <= set(table.c.keys()) else None


def recent_events(conn: Connection, contact_id: str, limit: int = 20) -> list[dict[str, Any]]:
    """The profile's latest events, newest first (empty without an ``events`` table)."""
    table = _optional_table(conn, "events", {"contact_id", "timestamp"})
    if table is None:
        return []
    rows = conn.execute(
        select(table)
        .where(table.c.contact_id == contact_id)
        .order_by(table.c.timestamp.desc())
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def audiences_of(conn: Connection, contact_id: str) -> list[dict[str, Any]]:
    """The profile's audience memberships (empty without an ``audience_members`` table)."""
    table = _optional_table(conn, "audience_members", {"contact_id"})
    if table is None:
        return []
    rows = conn.execute(select(table).where(table.c.contact_id == contact_id))
    return [dict(r._mapping) for r in rows]


def profile_view(
    conn: Connection, contact_id: str, rules: IdentityRules, *, events: int = 20
) -> ProfileView:
    """Assemble the view of ``contact_id`` (absorbed IDs follow their redirect).

    :raises UnknownIdentifier: when no profile has that contact ID.
    """
    live = live_contact_id(conn, contact_id)
    if live is None:
        raise UnknownIdentifier("no profile with that contact ID")
    p = profiles.c
    created = conn.execute(select(p.created_at).where(p.contact_id == live)).scalar_one()
    view = ProfileView(contact_id=live, created_at=utc(created))
    view.merged_ids = sorted(
        conn.execute(select(p.contact_id).where(p.merged_into == live)).scalars()
    )
    i, seen = identifiers.c, identifier_seen.c
    for r in conn.execute(
        select(identifiers, seen.first_seen, seen.last_seen)
        .join(identifier_seen, seen.identifier_id == i.id)
        .where(i.contact_id == live)
        .order_by(i.type, seen.first_seen, i.id)
    ):
        view.identifiers.append(
            IdentifierView(
                type=r.type,
                value=r.value,
                first_seen=utc(r.first_seen),
                last_seen=utc(r.last_seen),
                connection=r.connection,
            )
        )
    for name, t in sorted(resolved_traits(conn, live, rules).items()):
        view.traits[name] = TraitView(
            value=t.value,
            connection=t.connection,
            observed_at=t.observed_at,
            strategy=t.strategy,
            raw=t.raw,
        )
    m, a = memberships.c, accounts.c
    for r in conn.execute(
        select(memberships, a.name.label("account_name"))
        .join(accounts, a.account_id == m.account_id, isouter=True)
        .where(m.contact_id == live)
        .order_by(m.started_at, m.id)
    ):
        view.memberships.append(
            MembershipView(
                account_id=r.account_id,
                account_name=r.account_name,
                role=r.role,
                started_at=utc(r.started_at) if r.started_at else None,
                ended_at=utc(r.ended_at) if r.ended_at else None,
                connection=r.connection,
            )
        )
    for r in conn.execute(select(consents).where(consents.c.contact_id == live)):
        view.consents[r.purpose] = ConsentView(
            granted=r.granted, source=r.source, recorded_at=utc(r.recorded_at)
        )
    view.consent_history = [
        ConsentEntryView(**dataclasses.asdict(entry)) for entry in consent_history(conn, live)
    ]
    for r in conn.execute(select(scores).where(scores.c.contact_id == live)):
        view.scores[r.name] = ScoreView(
            value=r.value, model=r.model, computed_at=utc(r.computed_at)
        )
    view.events = recent_events(conn, live, events)
    view.audiences = audiences_of(conn, live)
    return view
