"""explain: why two identifiers (or contact IDs) are, or are not, one person."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, or_, select

from ..store.driver_sql import utc
from .evidence import IdentifierLike
from .profile_graph import Node, best_node, edges_touching, profile_nodes, resolve_ref
from .rules import IdentityRules
from .tables import merge_log


@dataclass(frozen=True, slots=True)
class LinkStep:
    """One hop of an evidence chain: record ``record_id`` from ``connection`` carried both
    identifiers at ``observed_at``. Identifiers are ``(type, value)``."""

    source: tuple[str, str]
    target: tuple[str, str]
    record_id: str
    connection: str
    observed_at: datetime


@dataclass(slots=True)
class Explanation:
    """The answer of :func:`explain`.

    ``same_profile`` says whether both references resolve to one live profile; ``path`` is
    then the shortest evidence chain between them (empty if they are the same identifier
    or both are contact IDs of one profile). ``log`` holds the merge-log entries of the
    profile(s) involved, oldest first: merges, refused links (with the rule) and splits.
    """

    contact_a: str
    contact_b: str
    same_profile: bool
    path: list[LinkStep] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)


def _shortest_path(conn: Connection, nodes: list[Node], start: int, goal: int) -> list[LinkStep]:
    by_id = {n.id: n for n in nodes}
    adjacency: dict[int, list[Any]] = {}
    for e in edges_touching(conn, list(by_id)):
        adjacency.setdefault(e.src_id, []).append((e.dst_id, e))
        adjacency.setdefault(e.dst_id, []).append((e.src_id, e))
    previous: dict[int, tuple[int, Any]] = {}
    queue = deque([start])
    visited = {start}
    while queue:
        current = queue.popleft()
        if current == goal:
            break
        for nxt, e in sorted(adjacency.get(current, []), key=lambda x: x[1].id):
            if nxt not in visited:
                visited.add(nxt)
                previous[nxt] = (current, e)
                queue.append(nxt)
    steps: list[LinkStep] = []
    current = goal
    while current != start and current in previous:
        prev, e = previous[current]
        a, b = by_id[prev], by_id[current]
        steps.append(
            LinkStep((a.type, a.value), (b.type, b.value), e.record_id, e.connection, e.observed_at)
        )
        current = prev
    return list(reversed(steps))


def profile_log(conn: Connection, contact_ids: set[str]) -> list[dict[str, Any]]:
    """Merge-log entries naming any of ``contact_ids`` (as survivor or other), oldest first."""
    m = merge_log.c
    ids = sorted(contact_ids)
    rows = conn.execute(
        select(merge_log).where(or_(m.survivor.in_(ids), m.other.in_(ids))).order_by(m.id)
    )
    out = []
    for r in rows:
        entry = dict(r._mapping)
        entry["at"] = utc(entry["at"])
        out.append(entry)
    return out


def explain(
    conn: Connection,
    rules: IdentityRules,
    a: IdentifierLike | str,
    b: IdentifierLike | str | None = None,
) -> Explanation:
    """Explain why ``a`` and ``b`` are one person, or show what kept them apart.

    Each of ``a`` and ``b`` is an identifier or a contact ID; a contact ID stands for its
    profile's highest-priority oldest identifier. With ``b`` omitted, explains ``a``'s
    profile: the chain from its best identifier to ``a`` and the profile's log.

    :raises UnknownIdentifier: when a reference is not known to the store.
    """
    contact_a, node_a = resolve_ref(conn, a)
    contact_b, node_b = (contact_a, None) if b is None else resolve_ref(conn, b)
    result = Explanation(contact_a, contact_b, contact_a == contact_b)
    # The absorbed IDs of both profiles, so their merges show up in the log too.
    related = {contact_a, contact_b}
    result.log = profile_log(conn, related)
    related |= {e["other"] for e in result.log if e["action"] == "merge" and e["other"]}
    result.log = profile_log(conn, related)
    if not result.same_profile:
        return result
    nodes = profile_nodes(conn, contact_a)
    if not nodes:
        return result
    start = node_a or best_node(nodes, rules)
    goal = node_b or best_node(nodes, rules)
    if start.id != goal.id:
        result.path = _shortest_path(conn, nodes, start.id, goal.id)
    return result
