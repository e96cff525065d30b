"""Loading what conditions read about a set of profiles, in a few set-based queries.

Only the facts some condition needs are read: the named traits (after survivorship),
scores and consents, open memberships when a condition asks for accounts, and the named
events within the longest window any condition reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, and_, or_, select

from spokehub.identity import IdentityRules
from spokehub.identity.tables import identifiers
from spokehub.profiles import Observation, survive
from spokehub.profiles.tables import consents, memberships, scores, traits
from spokehub.store.driver_sql import CHUNK, chunks, utc
from spokehub.store.tables import events
from spokehub_contracts import Identifier

from .conditions import Dependencies, EventFact, Facts


@dataclass(frozen=True)
class Needs:
    """What to load: the union of the conditions' :class:`Dependencies`, with the
    longest window per event name (``None``: all time)."""

    deps: Dependencies = field(default_factory=Dependencies)
    windows: dict[str, float | None] = field(default_factory=dict)


def load_facts(
    conn: Connection, contact_ids: Sequence[str], needs: Needs, rules: IdentityRules, now: datetime
) -> dict[str, Facts]:
    """Each profile's :class:`Facts`, as far as ``needs`` asks (every profile of
    ``contact_ids`` gets one, empty when the store holds nothing it needs)."""
    out = {c: Facts() for c in contact_ids}
    ids = sorted(out)
    deps = needs.deps
    for part in chunks(ids, CHUNK):
        if deps.traits:
            _traits(conn, part, deps.traits, rules, out)
        if deps.scores:
            t = scores.c
            for r in conn.execute(
                select(t.contact_id, t.name, t.value).where(
                    t.contact_id.in_(part), t.name.in_(sorted(deps.scores))
                )
            ):
                out[r.contact_id].scores[r.name] = r.value
        if deps.consents:
            c = consents.c
            for r in conn.execute(
                select(c.contact_id, c.purpose, c.granted).where(
                    c.contact_id.in_(part), c.purpose.in_(sorted(deps.consents))
                )
            ):
                out[r.contact_id].consents[r.purpose] = bool(r.granted)
        if deps.accounts:
            m = memberships.c
            for r in conn.execute(
                select(m.contact_id, m.account_id, m.role).where(
                    m.contact_id.in_(part), m.ended_at.is_(None)
                )
            ):
                out[r.contact_id].accounts.add((r.account_id, r.role))
        if needs.windows:
            _events(conn, part, needs.windows, now, out)
    return out


def _traits(
    conn: Connection,
    part: Sequence[str],
    names: frozenset[str],
    rules: IdentityRules,
    out: dict[str, Facts],
) -> None:
    t = traits.c
    found: dict[tuple[str, str], list[Observation]] = {}
    for r in conn.execute(select(traits).where(t.contact_id.in_(part), t.name.in_(sorted(names)))):
        found.setdefault((r.contact_id, r.name), []).append(
            Observation(
                r.connection, r.value, utc(r.observed_at), r.first_value, utc(r.first_observed_at)
            )
        )
    for (contact_id, name), obs in found.items():
        value = survive(obs, rules.policy_for(name))
        if value is not None:
            out[contact_id].traits[name] = value.value


def _events(
    conn: Connection,
    part: Sequence[str],
    windows: dict[str, float | None],
    now: datetime,
    out: dict[str, Facts],
) -> None:
    e = events.c
    bounded = {n: d for n, d in windows.items() if d is not None}
    unbounded = sorted(n for n, d in windows.items() if d is None)
    clauses = []
    if unbounded:
        clauses.append(e.event.in_(unbounded))
    for name, days in sorted(bounded.items()):
        clauses.append(and_(e.event == name, e.timestamp > now - timedelta(days=days)))
    query = select(e.contact_id, e.event, e.timestamp, e.properties).where(
        e.contact_id.in_(part), e.type == "track", or_(*clauses)
    )
    for r in conn.execute(query):
        props = r.properties if isinstance(r.properties, dict) else {}
        out[r.contact_id].events.setdefault(r.event, []).append(EventFact(utc(r.timestamp), props))


def identifiers_of(
    conn: Connection, contact_ids: Sequence[str]
) -> dict[str, tuple[Identifier, ...]]:
    """Every identifier each profile holds, as destinations match people by them."""
    out: dict[str, list[Identifier]] = {c: [] for c in contact_ids}
    i = identifiers.c
    for part in chunks(sorted(out), CHUNK):
        for r in conn.execute(
            select(i.contact_id, i.type, i.value).where(i.contact_id.in_(part)).order_by(i.id)
        ):
            # Stored values are normalized already.
            out[r.contact_id].append(Identifier.model_construct(type=r.type, value=r.value))
    return {c: tuple(ids) for c, ids in out.items()}
