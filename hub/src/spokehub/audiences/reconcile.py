"""The scheduled reconcile: membership that time alone has moved, and new definitions.

An audience that reads an event window changes without any new data: a purchase ages out
of its 30 days. Since the last reconcile (at ``T0``), exactly the profiles with an event
of that name timestamped in ``(T0 - window, now - window]`` may have crossed an edge, so
only those are decided again. An audience that is new, or whose ``where`` changed, is
decided for every live profile (and every stored member). Memberships of profiles merged
into another since are closed, the survivor decided again. On PostgreSQL each chunk of
profiles is row-locked first, as the pipeline locks the profiles it changes, so a
reconcile never decides on facts a batch is changing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Engine, select

from spokehub.identity import IdentityRules
from spokehub.identity.locks import lock_profiles
from spokehub.identity.tables import profiles
from spokehub.store.driver_sql import CHUNK, chunks, cursor, transaction, utc
from spokehub.store.tables import events

from .conditions import edges
from .definitions import Audience
from .facts import load_facts
from .index import AudienceIndex
from .membership import adopt, current_members, record, transitions
from .tables import audience_members, audience_state

#: Profiles decided per transaction.
CHUNK_PROFILES = 500


def digest(audience: Audience) -> str:
    """What membership depends on: the condition alone (destinations may change freely)."""
    return hashlib.sha256(audience.where.model_dump_json(by_alias=True).encode()).hexdigest()


@dataclass
class ReconcileStats:
    """What a reconcile did, per audience: profiles decided, entered, exited."""

    decided: dict[str, int] = field(default_factory=dict)
    entered: dict[str, int] = field(default_factory=dict)
    exited: dict[str, int] = field(default_factory=dict)
    full: list[str] = field(default_factory=list)
    outbox: int = 0


def reconcile(
    engine: Engine,
    index: AudienceIndex,
    rules: IdentityRules,
    now: datetime,
    *,
    full: bool = False,
    only: Sequence[str] | None = None,
) -> ReconcileStats:
    """Bring membership up to date at ``now``; ``full`` decides every audience for every
    profile (as for a new definition)."""
    stats = ReconcileStats()
    names = sorted(only if only is not None else index.audiences)
    with transaction(engine, readonly=True) as conn:
        state = {
            r.audience: (r.digest, utc(r.reconciled_at))
            for r in conn.execute(select(audience_state))
        }
    # Profiles per audience to decide; None: all of them.
    plan: dict[str, set[str] | None] = {}
    with transaction(engine, readonly=True) as conn:
        merged = _merged_members(conn)
        for name in names:
            audience = index.audiences[name]
            known = state.get(name)
            if full or known is None or known[0] != digest(audience):
                plan[name] = None
                stats.full.append(name)
                continue
            found: set[str] = set()
            if name in index.timed:
                found |= _drifted(conn, audience, known[1], now)
            found |= {survivor for a, _, survivor in merged if a == name}
            plan[name] = found
    _close_merged(engine, merged, names, now)
    everyone = [n for n, who in plan.items() if who is None]
    if everyone:
        for part in _all_profiles(engine):
            _decide(engine, index, rules, {n: set(part) for n in everyone}, now, stats)
    partial = {n: who for n, who in plan.items() if who}
    contacts = sorted(set().union(*partial.values())) if partial else []
    for part in chunks(contacts, CHUNK_PROFILES):
        chunk = set(part)
        _decide(engine, index, rules, {n: who & chunk for n, who in partial.items()}, now, stats)
    with transaction(engine) as conn:
        cur = cursor(conn)
        at = cur.driver.stamp(now)
        cur.insert(
            "audience_state",
            ("audience", "digest", "reconciled_at"),
            [(n, digest(index.audiences[n]), at) for n in names],
            conflict=("audience",),
            update=("digest", "reconciled_at"),
        )
    return stats


def _decide(
    engine: Engine,
    index: AudienceIndex,
    rules: IdentityRules,
    who: dict[str, set[str]],
    now: datetime,
    stats: ReconcileStats,
) -> None:
    contacts = sorted(set().union(*who.values())) if who else []
    if not contacts:
        return
    with transaction(engine) as conn:
        if conn.dialect.name == "postgresql":
            lock_profiles(conn, contacts)
        live = _live(conn, contacts)
        names = [n for n, c in who.items() if c]
        # Every stored member of these audiences among the chunk is decided too: one
        # whose profile is gone leaves.
        members = current_members(conn, contacts, names)
        wanted: dict[str, set[str]] = {}
        for name, cs in who.items():
            for c in cs:
                wanted.setdefault(c, set()).add(name)
        facts = load_facts(conn, sorted(live), index.needs(names), rules, now)
        decisions = index.decide({c: n for c, n in wanted.items() if c in live}, facts, now)
        for c, ns in wanted.items():
            if c not in live:
                decisions.update({(n, c): False for n in ns})
        moves = transitions(decisions, members)
        stats.outbox += record(conn, moves, index.audiences, now)
    for name, cs in who.items():
        stats.decided[name] = stats.decided.get(name, 0) + len(cs)
    for m in moves:
        bucket = stats.entered if m.entered else stats.exited
        bucket[m.audience] = bucket.get(m.audience, 0) + 1


def _drifted(conn: Connection, audience: Audience, since: datetime, now: datetime) -> set[str]:
    """Profiles with an event that crossed one of ``audience``'s window edges between
    ``since`` and ``now``."""
    e = events.c
    found: set[str] = set()
    if now <= since:
        return found
    # Every window of an event is an edge of its own: in ``any: [{within 30 days},
    # {not: {ever}}]`` the all-time leaf must not hide the 30 days.
    for name, widths in edges(audience.where).items():
        for days in sorted(widths):
            width = timedelta(days=days)
            found.update(
                conn.execute(
                    select(e.contact_id)
                    .where(e.event == name, e.timestamp > since - width, e.timestamp <= now - width)
                    .distinct()
                ).scalars()
            )
    return found


def _merged_members(conn: Connection) -> list[tuple[str, str, str]]:
    """``(audience, absorbed contact, survivor)`` of open memberships whose profile was
    merged into another."""
    m, p = audience_members.c, profiles.c
    rows = conn.execute(
        select(m.audience, m.contact_id, p.merged_into)
        .join(profiles, p.contact_id == m.contact_id)
        .where(m.exited_at.is_(None), p.merged_into.is_not(None))
    ).all()
    return [(a, c, s) for a, c, s in rows]


def _close_merged(
    engine: Engine, merged: list[tuple[str, str, str]], names: list[str], now: datetime
) -> None:
    rows = [(a, c, survivor) for a, c, survivor in merged if a in names]
    if rows:
        with transaction(engine) as conn:
            adopt(conn, rows, now)


def _live(conn: Connection, contacts: Sequence[str]) -> set[str]:
    p = profiles.c
    live: set[str] = set()
    for part in chunks(list(contacts), CHUNK):
        live.update(
            conn.execute(
                select(p.contact_id).where(p.contact_id.in_(part), p.merged_into.is_(None))
            ).scalars()
        )
    return live


def _all_profiles(engine: Engine) -> Iterator[list[str]]:
    """Every live profile and every stored member, in chunks, in contact order."""
    after = ""
    p, m = profiles.c, audience_members.c
    while True:
        with transaction(engine, readonly=True) as conn:
            live = (
                conn.execute(
                    select(p.contact_id)
                    .where(p.contact_id > after, p.merged_into.is_(None))
                    .order_by(p.contact_id)
                    .limit(CHUNK_PROFILES)
                )
                .scalars()
                .all()
            )
            upto = live[-1] if len(live) == CHUNK_PROFILES else None
            q = select(m.contact_id).where(m.contact_id > after, m.exited_at.is_(None))
            if upto is not None:
                q = q.where(m.contact_id <= upto)
            members = set(conn.execute(q.distinct()).scalars())
        part = sorted(set(live) | members)
        if not part:
            return
        yield part
        if upto is None:
            return
        after = upto
