"""Shared helpers for the identity tests: building evidence and reading the partition."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import Connection, select

from spokehub.identity import Evidence, IdentityRules, resolve_batch
from spokehub.identity.tables import edges, identifiers, profiles
from spokehub_contracts import Identifier

T0 = datetime(2024, 1, 1, tzinfo=UTC)
_counter = iter(range(10**9))


def ident(text: str) -> Identifier:
    """``"email:x@example.com"`` as an Identifier."""
    return Identifier.parse(text)


def rec(
    *ids: str, record_id: str | None = None, at: int | None = None, conn: str = "web"
) -> Evidence:
    """A record carrying ``ids`` (``TYPE:VALUE`` strings), ``at`` minutes after T0."""
    n = next(_counter)
    return Evidence(
        record_id=record_id or f"r{n:06d}",
        connection=conn,
        observed_at=T0 + timedelta(minutes=n if at is None else at),
        identifiers=[ident(i) for i in ids],
    )


def resolve(conn: Connection, records: Sequence[Evidence], rules: IdentityRules | None = None):
    return resolve_batch(conn, rules or IdentityRules(), records)


def partition(conn: Connection) -> set[frozenset[str]]:
    """Live profiles as sets of ``type:value`` strings."""
    groups: dict[str, set[str]] = {}
    for row in conn.execute(
        select(identifiers.c.type, identifiers.c.value, identifiers.c.contact_id)
    ):
        groups.setdefault(row.contact_id, set()).add(f"{row.type}:{row.value}")
    return {frozenset(g) for g in groups.values()}


def restrict(parts: Iterable[frozenset[str]], keep: set[str]) -> set[frozenset[str]]:
    """The partition restricted to the identifiers in ``keep``."""
    return {frozenset(p & keep) for p in parts if p & keep}


def check_invariants(conn: Connection) -> None:
    """Every identifier in exactly one live profile; every redirect reaches a live profile
    in one hop; every active edge lies inside one profile."""
    rows = conn.execute(select(profiles.c.contact_id, profiles.c.merged_into)).all()
    live = {r.contact_id for r in rows if r.merged_into is None}
    for r in rows:
        if r.merged_into is not None:
            assert r.merged_into in live, "redirect does not reach a live profile"
    owner = {}
    for r in conn.execute(select(identifiers.c.id, identifiers.c.contact_id)):
        assert r.contact_id in live, "identifier held by a dead profile"
        owner[r.id] = r.contact_id
    assert len(owner) == conn.execute(select(identifiers.c.id)).all().__len__()
    for e in conn.execute(select(edges).where(edges.c.status == "active")):
        assert owner[e.src_id] == owner[e.dst_id], "active edge crosses profiles"
    held = {r.contact_id for r in conn.execute(select(identifiers.c.contact_id))}
    assert held <= live
