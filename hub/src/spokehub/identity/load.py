"""Step 2 of resolution: load the slice of the stored graph a batch touches.

Reads, in a few set-based queries, the batch's stored identifiers, the identifier counts
of the profiles the decision may weigh against the limits, and the pairs an operator
removed; on PostgreSQL it first locks them (see :mod:`spokehub.identity.locks`).
"""

from __future__ import annotations

from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError

from ..store.driver_sql import Cursor, chunks, marks
from . import locks
from .batch import Batch
from .decide import Graph, Known, needs
from .evidence import Key
from .rules import IdentityRules


def load_graph(conn: Connection, sql: Cursor, rules: IdentityRules, batch: Batch) -> Graph:
    """The :class:`~.decide.Graph` of ``batch``: what :func:`~.decide.decide` needs, and,
    on PostgreSQL, locked until the transaction ends."""
    known = _lock_and_load(conn, sql, batch.keys)
    need = needs(rules, batch, known)
    removed: frozenset[tuple[Key, Key]] = frozenset()
    if need.linked:
        key_of = {k[0]: key for key, k in known.items()}
        pairs = {(key_of[a], key_of[b]) for a, b in load_edges(sql, need.linked, removed=True)}
        removed = frozenset(pairs | {(b, a) for a, b in pairs})
    return Graph(known, load_counts(sql, need.counts), removed)


def load_known(sql: Cursor, keys: set[Key]) -> dict[Key, Known]:
    """Row id and live contact ID of each stored identifier among ``keys``."""
    values = sorted({v for _, v in keys})
    # Found identifiers are keyed by the caller's own key objects (the batch's), which
    # later look-ups then find without comparing strings.
    own = {k: k for k in keys}.get
    found: dict[Key, Known] = {}
    for part in chunks(values):
        rows = sql.rows(
            "SELECT id, type, value, contact_id FROM identifiers "
            f"WHERE value IN ({marks(len(part))})",
            tuple(part),
        )
        for id_, type_, value, contact_id in rows:
            key = own((type_, value))
            if key is not None:
                found[key] = (id_, contact_id)
    return found


def load_counts(sql: Cursor, contact_ids: set[str]) -> dict[str, dict[str, int]]:
    """Identifiers per type held by each of ``contact_ids``."""
    counts: dict[str, dict[str, int]] = {cid: {} for cid in contact_ids}
    for part in chunks(sorted(contact_ids)):
        rows = sql.rows(
            "SELECT contact_id, type, count(*) FROM identifiers "
            f"WHERE contact_id IN ({marks(len(part))}) GROUP BY contact_id, type",
            tuple(part),
        )
        for contact_id, type_, n in rows:
            counts[contact_id][type_] = n
    return counts


def load_edges(sql: Cursor, ids: set[int], removed: bool) -> set[tuple[int, int]]:
    """Stored edges between two of ``ids`` (only ``removed`` ones, if asked)."""
    pairs: set[tuple[int, int]] = set()
    where = "status = 'removed' AND " if removed else ""
    for part in chunks(sorted(ids)):
        rows = sql.rows(
            f"SELECT src_id, dst_id FROM edges WHERE {where}src_id IN ({marks(len(part))})",
            tuple(part),
        )
        pairs.update((a, b) for a, b in rows if b in ids)
    return pairs


def _lock_and_load(conn: Connection, sql: Cursor, keys: set[Key]) -> dict[Key, Known]:
    """Load the known identifiers of ``keys``; on PostgreSQL, first lock them and their
    profiles (see :mod:`spokehub.identity.locks`)."""
    if not sql.driver.postgres:
        return load_known(sql, keys)
    locks.lock_identifiers(conn, keys)
    locked: set[str] = set()
    for _attempt in range(20):
        known = load_known(sql, keys)
        needed = {k[1] for k in known.values()} - locked
        if not needed:
            return known
        try:
            with conn.begin_nested():
                locks.lock_profiles(conn, needed)
        except DBAPIError as exc:
            if getattr(exc.orig, "sqlstate", None) != "40P01":  # deadlock_detected
                raise
            continue
        locked |= needed
    raise RuntimeError("could not lock the profiles of a batch after 20 attempts")
