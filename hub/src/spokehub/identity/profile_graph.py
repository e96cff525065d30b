"""Reading one profile's slice of the graph: its identifiers and active evidence edges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, or_, select

from ..store.driver_sql import chunks, utc
from .errors import UnknownIdentifier
from .evidence import IdentifierLike
from .lookup import live_contact_id
from .rules import IdentityRules
from .tables import edges, identifier_seen, identifiers


@dataclass(frozen=True, slots=True)
class Node:
    """An identifier as stored."""

    id: int
    type: str
    value: str
    contact_id: str
    first_seen: datetime
    connection: str


@dataclass(frozen=True, slots=True)
class Edge:
    """One evidence edge as stored."""

    id: int
    src_id: int
    dst_id: int
    record_id: str
    connection: str
    observed_at: datetime
    status: str
    reason: str | None


#: Identifiers with their first sighting.
_NODES = select(identifiers, identifier_seen.c.first_seen).join(
    identifier_seen, identifier_seen.c.identifier_id == identifiers.c.id
)


def _node(row) -> Node:  # type: ignore[no-untyped-def]
    return Node(row.id, row.type, row.value, row.contact_id, utc(row.first_seen), row.connection)


def _edge(row) -> Edge:  # type: ignore[no-untyped-def]
    return Edge(
        row.id,
        row.src_id,
        row.dst_id,
        row.record_id,
        row.connection,
        utc(row.observed_at),
        row.status,
        row.reason,
    )


def find_node(conn: Connection, identifier: IdentifierLike) -> Node:
    """The stored identifier.

    :raises UnknownIdentifier: if it was never seen.
    """
    c = identifiers.c
    row = conn.execute(_NODES.where(c.value == identifier.value, c.type == identifier.type)).first()
    if row is None:
        raise UnknownIdentifier(f"no {identifier.type} identifier with that value is known")
    return _node(row)


def profile_nodes(conn: Connection, contact_id: str) -> list[Node]:
    """Every identifier of the live profile ``contact_id``."""
    rows = conn.execute(_NODES.where(identifiers.c.contact_id == contact_id))
    return [_node(r) for r in rows]


def edges_touching(
    conn: Connection, ids: list[int], statuses: tuple[str, ...] = ("active",)
) -> list[Edge]:
    """Edges with either end in ``ids`` and a status in ``statuses``."""
    found: dict[int, Edge] = {}
    e = edges.c
    for part in chunks(sorted(ids)):
        rows = conn.execute(
            select(edges).where(or_(e.src_id.in_(part), e.dst_id.in_(part)), e.status.in_(statuses))
        )
        for r in rows:
            found[r.id] = _edge(r)
    return sorted(found.values(), key=lambda x: x.id)


def best_node(nodes: list[Node], rules: IdentityRules) -> Node:
    """The profile's highest-priority, oldest identifier (ties: lowest id)."""
    return min(nodes, key=lambda n: (rules.rank(n.type), n.first_seen, n.id))


def resolve_ref(conn: Connection, ref: IdentifierLike | str) -> tuple[str, Node | None]:
    """A live contact ID and, for an identifier reference, its node.

    ``ref`` is an identifier or a contact ID (absorbed IDs follow their redirect).

    :raises UnknownIdentifier: if neither is known.
    """
    if isinstance(ref, str):
        live = live_contact_id(conn, ref)
        if live is None:
            raise UnknownIdentifier("no profile with that contact ID")
        return live, None
    node = find_node(conn, ref)
    return node.contact_id, node
