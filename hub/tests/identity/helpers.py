"""Shared helpers for the identity tests: building evidence, generating corpora and
reading the partition."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from hypothesis import strategies as st
from sqlalchemy import Connection, select

from spokehub.identity import Evidence, IdentityRules
from spokehub.identity.graph import components
from spokehub.identity.resolve import resolve_batch
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


#: Rules under which no limit or never-merge rule can refuse an edge.
UNLIMITED = IdentityRules(limits={}, default_limit=10_000, never_merge_on=[])

#: The identifiers generated corpora draw from (already normalized), few enough that
#: records often share one.
UNIVERSE = (
    [f"user_id:u{n}" for n in range(4)]
    + [f"email:e{n}@example.com" for n in range(6)]
    + [f"phone:+1415555010{n}" for n in range(4)]
    + [f"anonymous_id:d{n}" for n in range(5)]
)

record_ids = st.lists(st.sampled_from(UNIVERSE), min_size=1, max_size=4, unique=True)
corpora = st.lists(record_ids, min_size=1, max_size=14)


def _identifier(text: str) -> Identifier:
    type_, value = text.split(":", 1)
    # The universe is normalized already; skip the validators to keep examples fast.
    return Identifier.model_construct(type=type_, value=value)


def records_of(corpus: list[list[str]], prefix: str = "r") -> list[Evidence]:
    """One record per entry of ``corpus``, a minute apart."""
    return [
        Evidence(
            f"{prefix}{n:03d}", "web", T0 + timedelta(minutes=n), [_identifier(i) for i in ids]
        )
        for n, ids in enumerate(corpus)
    ]


def expected_components(corpus: list[list[str]]) -> set[frozenset[str]]:
    """The connected components of the identifiers each record carried together: the
    partition when no rule refuses an edge (the oracle, independent of resolution)."""
    nodes = {i for ids in corpus for i in ids}
    links = [(ids[0], other) for ids in corpus for other in ids[1:]]
    return {frozenset(c) for c in components(nodes, links)}


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
