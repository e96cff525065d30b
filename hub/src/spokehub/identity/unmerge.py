"""unmerge: remove evidence, recompute the profile, split it where it falls apart."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Connection, bindparam, select, update

from ..store.driver_sql import chunks, driver, utcnow
from . import locks
from .errors import NoSuchEvidence
from .evidence import IdentifierLike
from .graph import components
from .ids import new_contact_id
from .outcome import ProfileChange
from .profile_graph import best_node, edges_touching, find_node, profile_nodes
from .rules import IdentityRules
from .tables import edges, identifiers, merge_log, profiles


@dataclass(slots=True)
class UnmergeResult:
    """What an unmerge did: how many evidence edges it removed and the splits it caused
    (``ProfileChange`` of kind ``split``; empty if the profile still holds together)."""

    removed_edges: int = 0
    changes: list[ProfileChange] = field(default_factory=list)


def unmerge(
    conn: Connection,
    rules: IdentityRules,
    *,
    identifier: IdentifierLike | None = None,
    pair: tuple[IdentifierLike, IdentifierLike] | None = None,
    record_id: str | None = None,
    reason: str = "",
    actor: str = "operator",
) -> UnmergeResult:
    """Remove evidence and split the profiles it held together.

    Exactly one of: ``identifier`` (detach it: remove all its active edges), ``pair`` (the
    direct evidence edge between two identifiers) or ``record_id`` (every active edge that
    record created). Removed edges stay removed: later records carrying the same pair do
    not re-join it. Each affected profile is recomputed as the connected components of its
    remaining active edges; the component with the highest-priority, oldest identifier
    keeps the contact ID, every other component gets a new one. Traits, consents, scores
    and memberships stay with the part that keeps the contact ID. Logged as ``split``.
    Runs in the caller's transaction and never commits.

    :raises UnknownIdentifier: when a named identifier is unknown.
    :raises NoSuchEvidence: when nothing active matches.
    """
    if sum(x is not None for x in (identifier, pair, record_id)) != 1:
        raise ValueError("give exactly one of identifier, pair or record_id")
    e = edges.c
    if identifier is not None:
        node = find_node(conn, identifier)
        targets = edges_touching(conn, [node.id])
        what = {"identifier_id": node.id, "type": node.type}
    elif pair is not None:
        a, b = find_node(conn, pair[0]), find_node(conn, pair[1])
        lo, hi = min(a.id, b.id), max(a.id, b.id)
        targets = [x for x in edges_touching(conn, [lo]) if x.src_id == lo and x.dst_id == hi]
        what = {"identifier_ids": [lo, hi]}
    else:
        rows = conn.execute(
            select(edges.c.src_id).where(e.record_id == record_id, e.status == "active")
        )
        ids = sorted({r.src_id for r in rows})
        targets = [x for x in edges_touching(conn, ids) if x.record_id == record_id] if ids else []
        what = {"record_id": record_id}
    if not targets:
        raise NoSuchEvidence("no active evidence matches; use explain to see the chain")

    edge_ids = sorted(t.id for t in targets)
    touched_ids = sorted({t.src_id for t in targets} | {t.dst_id for t in targets})
    contact_ids: set[str] = set()
    for part in chunks(touched_ids):
        contact_ids.update(
            conn.execute(
                select(identifiers.c.contact_id).where(identifiers.c.id.in_(part))
            ).scalars()
        )
    if driver(conn).postgres:
        locks.lock_profiles(conn, contact_ids)
    conn.execute(
        update(edges)
        .where(e.id == bindparam("eid"), e.status == "active")
        .values(status="removed", reason="unmerge"),
        [{"eid": i} for i in edge_ids],
    )

    result = UnmergeResult(removed_edges=len(edge_ids))
    stamp = utcnow()
    for contact_id in sorted(contact_ids):
        nodes = profile_nodes(conn, contact_id)
        by_id = {n.id: n for n in nodes}
        live = [(x.src_id, x.dst_id) for x in edges_touching(conn, list(by_id))]
        parts = components(by_id, live)
        if len(parts) < 2:
            continue
        keeper = best_node(nodes, rules).id
        new_ids: list[str] = []
        log_rows = []
        for part in sorted(parts, key=lambda p: min(p)):
            if keeper in part:
                continue
            new_id = new_contact_id()
            new_ids.append(new_id)
            conn.execute(profiles.insert(), {"contact_id": new_id, "created_at": stamp})
            members = sorted(part)
            for chunk in chunks(members):
                conn.execute(
                    update(identifiers).where(identifiers.c.id.in_(chunk)).values(contact_id=new_id)
                )
            log_rows.append(
                {
                    "at": stamp,
                    "action": "split",
                    "survivor": contact_id,
                    "other": new_id,
                    "rule": "unmerge",
                    "record_id": record_id,
                    "connection": None,
                    "detail": {**what, "actor": actor, "reason": reason, "moved": members},
                }
            )
        conn.execute(merge_log.insert(), log_rows)
        result.changes.append(ProfileChange("split", contact_id, tuple(new_ids)))
    return result
