"""Resolution: from the identifiers a batch of records carried to one contact ID per record.

The model: identifiers are nodes; the identifiers one record carried together are joined
by evidence edges (a star from the record's highest-priority identifier); a profile is a
connected component of the *active* edges. Rules decide which edges become active:

- a blocked value is ignored outright (it never creates, links or merges anything);
- a record whose identifiers would fuse two anchored profiles only through a
  ``never_merge_on`` type loses those identifiers' edges (rule ``never_merge``);
- a record whose identifiers would put more identifiers of a type into one profile than
  its limit allows loses the edge of its lowest-priority identifier outside the profile
  of its highest-priority one, repeatedly, until the merge fits (rule ``limit``);
- a pair an operator removed with ``unmerge`` stays removed (rule ``unmerged``).

A refused identifier still belongs to exactly one profile: its own, if it is new.

Order: the records of a batch are resolved in ``(observed_at, record_id)`` order, and a
record's identifiers in priority order, then by type and value. So any order of the same
records in one batch gives the same partition. When no rule refuses an edge, the
partition is the connected components of all edges, whatever the order and batching.

The survivor of a merge keeps the oldest (smallest, as IDs are UUIDv7) contact ID; the
absorbed IDs redirect to it.
"""

from __future__ import annotations

import gc
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Literal, Protocol

from sqlalchemy import Connection, select
from sqlalchemy.exc import DBAPIError

from ..store.driver_sql import Cursor, chunks, cursor, marks, utc, utcnow
from ..store.engine import json_text
from . import locks
from .ids import new_contact_ids
from .rules import IdentityRules
from .tables import EPOCH, MICROSECOND, identifiers, profiles

Key = tuple[str, str]


class IdentifierLike(Protocol):
    """Anything with a type and an already-normalized value (``spokehub_contracts.Identifier``)."""

    @property
    def type(self) -> str: ...

    @property
    def value(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record's identifiers, as seen by resolution.

    ``identifiers`` must already be normalized (``Identifier`` does so on construction);
    ``observed_at`` should be timezone-aware (naive values are taken as UTC).
    """

    record_id: str
    connection: str
    observed_at: datetime
    identifiers: Sequence[IdentifierLike]


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """A change to the set of profiles, for the pipeline to route to destinations.

    ``created``: ``contact_id`` is new. ``merged``: ``contact_id`` is the survivor and
    ``others`` the absorbed IDs, which now redirect to it. ``split``: ``contact_id`` kept
    part of the profile and ``others`` are the new IDs of the parts split off.
    """

    kind: Literal["created", "merged", "split"]
    contact_id: str
    others: tuple[str, ...] = ()
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """A link a rule refused: ``record_id`` carried an identifier of ``identifier_type``
    (now in profile ``other``) that was not joined to the record's profile ``contact_id``."""

    record_id: str
    rule: str
    identifier_type: str
    contact_id: str
    other: str


@dataclass(slots=True)
class ResolveResult:
    """What a batch resolved to.

    ``contact_ids[i]`` is the live contact ID of ``records[i]`` (``None`` when the record
    carried no usable identifier); ``changes`` lists created and merged profiles;
    ``decisions`` the links rules refused; ``ignored`` counts blocked identifiers.
    """

    contact_ids: list[str | None]
    changes: list[ProfileChange] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    ignored: int = 0

    def by_record(self, records: Sequence[Evidence]) -> dict[str, str | None]:
        """``record_id -> contact_id`` for the ``records`` this result answers."""
        return {r.record_id: c for r, c in zip(records, self.contact_ids, strict=True)}


def lookup(conn: Connection, identifier: IdentifierLike) -> str | None:
    """The live contact ID holding ``identifier``, or ``None`` if it was never seen."""
    return conn.execute(
        select(identifiers.c.contact_id).where(
            identifiers.c.value == identifier.value, identifiers.c.type == identifier.type
        )
    ).scalar_one_or_none()


def lookup_many(conn: Connection, keys: Iterable[Key]) -> dict[Key, str]:
    """Live contact IDs of the known ``(type, value)`` keys, in a few set-based queries."""
    return {k: known[1] for k, known in _load_known(conn, set(keys)).items()}


def live_contact_id(conn: Connection, contact_id: str) -> str | None:
    """Follow redirects: the live contact ID ``contact_id`` resolves to, or ``None`` if
    no such ID was ever issued."""
    seen: set[str] = set()
    current = contact_id
    while current not in seen:
        seen.add(current)
        row = conn.execute(
            select(profiles.c.merged_into).where(profiles.c.contact_id == current)
        ).first()
        if row is None:
            return None
        if row.merged_into is None:
            return current
        current = row.merged_into
    raise RuntimeError("redirect cycle in profiles")  # an invariant broke: say so loudly


#: What resolution knows of a stored identifier: its row id and its live contact ID.
_Known = tuple[int, str]


def _load_known(conn: Connection, keys: set[Key], sql: Cursor | None = None) -> dict[Key, _Known]:
    sql = sql or cursor(conn)
    values = sorted({v for _, v in keys})
    found: dict[Key, _Known] = {}
    for part in chunks(values):
        rows = sql.rows(
            "SELECT id, type, value, contact_id FROM identifiers "
            f"WHERE value IN ({marks(len(part))})",
            tuple(part),
        )
        for id_, type_, value, contact_id in rows:
            key = (type_, value)
            if key in keys:
                found[key] = (id_, contact_id)
    return found


def _load_counts(sql: Cursor, contact_ids: set[str]) -> dict[str, dict[str, int]]:
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


def _load_edges(sql: Cursor, ids: set[int], removed: bool) -> set[tuple[int, int]]:
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


def _new_identifier_ids(sql: Cursor, n: int) -> list[int]:
    """Row ids for ``n`` new identifiers, in ascending order. SQLite: the writer holds the
    database lock, so they follow the largest id (what the rowid would be anyway);
    PostgreSQL: drawn from the column's sequence in one query."""
    if not sql.driver.postgres:
        (top,) = sql.rows("SELECT max(id) FROM identifiers")[0]
        start = (top or 0) + 1
        return list(range(start, start + n))
    rows = sql.rows(
        "SELECT nextval(pg_get_serial_sequence('identifiers', 'id')) "
        "FROM generate_series(1, CAST(? AS INTEGER))",
        (n,),
    )
    return sorted(r[0] for r in rows)


def _lock_and_load(conn: Connection, sql: Cursor, keys: set[Key]) -> dict[Key, _Known]:
    """Load the known identifiers of ``keys``; on PostgreSQL, first lock them and their
    profiles (see :mod:`spokehub.identity.locks`)."""
    if not sql.driver.postgres:
        return _load_known(conn, keys, sql)
    locks.lock_identifiers(conn, keys)
    locked: set[str] = set()
    for _attempt in range(20):
        known = _load_known(conn, keys, sql)
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


def _drop(
    ks: list[Key], roots: list[int | None], dropped: list[tuple[Key, str]], j: int, rule: str
) -> None:
    """Take the ``j``-th identifier out of a record's links, remembering why."""
    dropped.append((ks.pop(j), rule))
    roots.pop(j)


def _apply_merges(sql: Cursor, absorbed_to: Mapping[str, str], stamp: datetime) -> None:
    """Point absorbed profiles, their redirects, identifiers and data at their survivors."""
    from spokehub.profiles.merge import merge_profile_data

    pairs = sorted(absorbed_to.items())
    at = sql.driver.stamp(stamp)
    sql.many(
        "UPDATE profiles SET merged_into = ?, merged_at = ? WHERE contact_id = ?",
        [(s, at, a) for a, s in pairs],
    )
    # Keep redirects one hop deep: whatever pointed at an absorbed ID now points further.
    sql.many(
        "UPDATE profiles SET merged_into = ? WHERE merged_into = ?",
        [(s, a) for a, s in pairs],
    )
    sql.many(
        "UPDATE identifiers SET contact_id = ? WHERE contact_id = ?",
        [(s, a) for a, s in pairs],
    )
    merge_profile_data(sql.conn, absorbed_to)


def resolve_batch(
    conn: Connection, rules: IdentityRules, records: Sequence[Evidence]
) -> ResolveResult:
    """Resolve ``records`` to contact IDs, creating, attaching and merging profiles.

    Runs inside the caller's transaction on ``conn`` and never commits. Set-based: a batch
    costs a handful of queries however many identifiers it carries. Replaying records is
    idempotent (same partition, same contact IDs, no new log entries). Merges are written
    to the merge log with their evidence, refused links as ``reject`` entries.
    """
    # A batch allocates many small objects and frees them all at the end; letting the
    # cyclic collector walk them meanwhile costs time and finds nothing.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _resolve(conn, rules, records)
    finally:
        if collecting:
            gc.enable()


def _resolve(conn: Connection, rules: IdentityRules, records: Sequence[Evidence]) -> ResolveResult:
    sql = cursor(conn)
    ts = sql.driver.stamp
    rules_nm = frozenset(rules.never_merge_on)
    limit, default_limit = rules.limits.get, rules.default_limit
    result = ResolveResult(contact_ids=[None] * len(records))

    # 1. Normalize the batch: blocked values out, identifiers deduplicated and ordered.
    when = [r.observed_at for r in records]
    if not all(w.tzinfo is UTC for w in when):
        when = [utc(w) for w in when]
    # Batches usually arrive in time order already; then there is nothing to sort (and
    # with strictly increasing times, no ties for the record IDs to break).
    if all(a < b for a, b in pairwise(when)):
        order: Iterable[int] = range(len(records))
    else:
        order = sorted(range(len(records)), key=lambda i: (when[i], records[i].record_id))
    # (record index, its identifiers in priority order, observed_at, as microseconds)
    prepared: list[tuple[int, list[Key], datetime, int]] = []
    all_keys: set[Key] = set()
    compiled = rules.compiled()
    ranks, star, blocked = compiled.ranks, compiled.star, compiled.blocked.match

    def priority(k: Key) -> tuple[int, Key]:
        return ranks.get(k[0], star), k

    ignored = 0
    for i in order:
        seen: dict[Key, None] = {}
        for ident in records[i].identifiers:
            value = ident.value
            if blocked(value):
                ignored += 1
                continue
            seen[(ident.type, value)] = None
        if not seen:
            continue
        if len(seen) == 1:
            ks = [*seen]
        elif len(seen) == 2:
            a, b = seen
            ks = [a, b] if (ranks.get(a[0], star), a) < (ranks.get(b[0], star), b) else [b, a]
        else:
            ks = sorted(seen, key=priority)
        all_keys.update(ks)
        w = when[i]
        prepared.append((i, ks, w, (w - EPOCH) // MICROSECOND))
    result.ignored = ignored
    if not prepared:
        return result

    # 2. Load (and on PostgreSQL lock) what the store knows about these identifiers.
    known = _lock_and_load(conn, sql, all_keys)
    # A profile's identifier counts matter only where a record could link it to something
    # else; a record whose identifiers all sit in one profile already, one of them of a
    # type that anchors, asks the rules nothing. Other profiles' counts load on demand.
    # Likewise an operator's removal matters only between two stored identifiers that one
    # record carries together.
    wanted: set[str] = set()
    linked: set[int] = set()
    for _i, ks, _at, _us in prepared:
        if len(ks) > 1:
            got = [known.get(k) for k in ks]
            cids = [g[1] if g else None for g in got]
            stored = [g[0] for g in got if g]
            if len(stored) > 1:
                linked.update(stored)
            first_cid = cids[0]
            if (
                first_cid is None
                or cids.count(first_cid) != len(cids)
                or all(k[0] in rules_nm for k in ks)
            ):
                wanted.update(c for c in cids if c is not None)
    existing_counts = _load_counts(sql, wanted)
    known_ids = {k[0]: key for key, k in known.items()}
    removed = _load_edges(sql, linked, removed=True) if linked else set()
    removed_keys = {(known_ids[a], known_ids[b]) for a, b in removed}
    removed_keys |= {(b, a) for a, b in removed_keys}
    has_removed = {k for pair in removed_keys for k in pair}

    # 3. Resolve in memory: a union-find over clusters (existing profiles and new ones),
    # numbered from 0; ``counts[n]`` and ``contact[n]`` describe cluster ``n``.
    parent: list[int] = []
    counts_of: list[dict[str, int] | None] = []  # None: an existing profile's, not loaded
    contact_of_node: list[str | None] = []

    def make(counts: dict[str, int] | None, contact: str | None) -> int:
        n = len(parent)
        parent.append(n)
        counts_of.append(counts)
        contact_of_node.append(contact)
        return n

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def counts(n: int) -> dict[str, int]:
        found = counts_of[n]
        if found is None:
            cid = contact_of_node[n]
            assert cid is not None  # only existing profiles load lazily
            found = counts_of[n] = _load_counts(sql, {cid})[cid]
        return found

    def anchored(root: int) -> bool:
        return any(n and t not in rules_nm for t, n in counts(root).items())

    contact_node = {
        cid: make(existing_counts.get(cid), cid) for cid in {k[1] for k in known.values()}
    }
    key_node: dict[Key, int] = {key: contact_node[k[1]] for key, k in known.items()}
    # Records are taken in time order, so an identifier's first and last sighting in the
    # batch are simply the first and the latest assignment (microseconds since the epoch).
    first_at: dict[Key, int] = {}
    last_at: dict[Key, int] = {}
    new_keys: dict[Key, str] = {}  # identifiers new to the store: the connection first seen
    record_node: dict[int, int] = {}
    pending_edges: dict[tuple[Key, Key], tuple[str, str, Any, str, str | None]] = {}
    # (survivor node, absorbed node, record index, the record's linked identifiers)
    merges: list[tuple[int, int, int, tuple[Key, ...]]] = []
    rejects: list[tuple[int, Key, Key, str]] = []  # (record index, anchor, dropped, rule)

    for i, ks, w, us in prepared:
        rec = records[i]
        if len(ks) == 1:
            # One identifier: no link, so no rule applies; attach it or start a profile.
            k = ks[0]
            node = key_node.get(k)
            if node is None:
                target = key_node[k] = make({k[0]: 1}, None)
                new_keys[k] = rec.connection
                first_at[k] = us
            else:
                target = node if parent[node] == node else find(node)
                if k not in first_at:
                    first_at[k] = us
            last_at[k] = us
            record_node[i] = target
            continue

        roots: list[int | None] = [
            n if (n := key_node.get(k)) is None or parent[n] == n else find(n) for k in ks
        ]
        dropped: list[tuple[Key, str]] = []

        # An operator's unmerge is sticky: never re-join a removed pair.
        if has_removed and any(k in has_removed for k in ks):
            j = len(ks) - 1
            while j > 0:
                if any((ks[j], ks[m]) in removed_keys for m in range(j)):
                    _drop(ks, roots, dropped, j, "unmerged")
                j -= 1

        same = roots[0] is not None and roots.count(roots[0]) == len(roots)
        # Only a stored never-merge identifier in another profile than the record's can be
        # refused; when all sit in one profile already, nothing is.
        weak = (
            [j for j, k in enumerate(ks) if roots[j] is not None and k[0] in rules_nm]
            if rules_nm and not same
            else ()
        )
        if weak:
            strong = {
                r for k, r in zip(ks, roots, strict=True) if r is not None and k[0] not in rules_nm
            }
            strong_new = any(
                r is None and k[0] not in rules_nm for k, r in zip(ks, roots, strict=True)
            )
            if not strong and not strong_new:
                # Only never-merge identifiers: the first anchored profile is the record's.
                strong = {next((r for r in roots if r is not None and anchored(r)), -1)}
            for j in reversed(weak):  # from the back, so earlier positions stay valid
                r = roots[j]
                if r not in strong and anchored(r):  # type: ignore[arg-type]
                    _drop(ks, roots, dropped, j, "never_merge")

        # When every identifier already sits in one profile nothing can be dropped for a
        # limit (no link leaves the profile), so the check below is skipped.
        while len(ks) > 1 and not (roots[0] is not None and roots.count(roots[0]) == len(roots)):
            total: dict[str, int] = {}
            for r in {r for r in roots if r is not None}:
                for t, n in counts(r).items():
                    total[t] = total.get(t, 0) + n
            for k, r in zip(ks, roots, strict=True):
                if r is None:
                    total[k[0]] = total.get(k[0], 0) + 1
            over = {t for t, n in total.items() if n > limit(t, default_limit)}
            if not over:
                break
            anchor = roots[0]
            droppable = [j for j in range(1, len(ks)) if roots[j] is None or roots[j] != anchor]
            # Drop the lowest-priority identifier whose removal relieves an exceeded type;
            # dropping an innocent one would lose a good link and fix nothing.
            relieving = [
                j
                for j in droppable
                if (ks[j][0] in over if roots[j] is None else over & counts(roots[j]).keys())
            ]
            if not droppable:
                break  # the profile was over a limit already (rules were tightened)
            _drop(ks, roots, dropped, (relieving or droppable)[-1], "limit")

        # Join what is left into one cluster; the oldest existing contact ID survives.
        target: int | None = roots[0] if same else None
        for r in () if same else roots:
            if r is None:
                continue
            r = find(r)
            if target is None:
                target = r
                continue
            if r == target:
                continue
            a, b = contact_of_node[target], contact_of_node[r]
            if a is not None and b is not None:
                survivor, absorbed = (target, r) if a < b else (r, target)
                merges.append((survivor, absorbed, i, tuple(ks)))
            elif b is not None:
                survivor, absorbed = r, target
            else:
                survivor, absorbed = target, r
            into = counts(survivor)
            for t, n in counts(absorbed).items():
                into[t] = into.get(t, 0) + n
            parent[absorbed] = survivor
            target = survivor
        if target is None:
            target = make({}, None)
        for k in ks:
            if k not in key_node:
                key_node[k] = target
                held = counts(target)
                held[k[0]] = held.get(k[0], 0) + 1
        for k, _rule in dropped:
            if k not in key_node:
                key_node[k] = make({k[0]: 1}, None)
        record_node[i] = target

        # Bookkeeping for the writes: identifiers' first/last seen, edges, decisions.
        for k in (*ks, *(d for d, _ in dropped)) if dropped else ks:
            if k not in first_at:
                first_at[k] = us
                if k not in known:
                    new_keys[k] = rec.connection
            last_at[k] = us
        anchor_key = ks[0]
        at = ts(w)  # edges keep the driver's own timestamp form (text on SQLite)
        for k in ks[1:]:
            pair = (anchor_key, k) if anchor_key < k else (k, anchor_key)
            # An accepted link outranks an earlier refusal of the same pair: the profile's
            # active edges must connect it, or unmerge would split it wrongly.
            pending = pending_edges.get(pair)
            if pending is None or pending[3] != "active":
                pending_edges[pair] = (rec.record_id, rec.connection, at, "active", None)
        for k, rule in dropped:
            pair = (anchor_key, k) if anchor_key < k else (k, anchor_key)
            if pair not in pending_edges:
                pending_edges[pair] = (rec.record_id, rec.connection, at, "rejected", rule)
                rejects.append((i, anchor_key, k, rule))

    # 4. Write: new profiles, merges, identifiers, edges, log.
    stamp = utcnow()

    # New contact IDs, handed out in the order the records and new identifiers need them.
    fresh: dict[int, None] = {}
    for i, _ks, _at, _us in prepared:
        root = find(record_node[i])
        if contact_of_node[root] is None:
            fresh[root] = None
    for node in {key_node[k] for k in new_keys}:
        root = find(node)
        if contact_of_node[root] is None:
            fresh[root] = None
    for root, cid in zip(fresh, new_contact_ids(len(fresh)), strict=True):
        contact_of_node[root] = cid

    def contact_of(node: int) -> str:
        cid = contact_of_node[find(node)]
        assert cid is not None  # every cluster a record or identifier ends in has an ID
        return cid

    for i, _ks, _at, _us in prepared:
        result.contact_ids[i] = contact_of_node[find(record_node[i])]
    if fresh:
        created = sorted(contact_of_node[root] for root in fresh)  # type: ignore[type-var]
        stamp_bound = ts(stamp)
        sql.many(
            f"INSERT INTO profiles (contact_id, created_at) VALUES ({marks(2)})",
            [(cid, stamp_bound) for cid in created],
        )
        result.changes.extend([ProfileChange("created", cid) for cid in created])

    absorbed_to: dict[str, str] = {}
    for _survivor, absorbed, _i, _ks in merges:
        absorbed_id = contact_of_node[absorbed]
        assert absorbed_id is not None  # only existing profiles are logged as merged
        absorbed_to[absorbed_id] = contact_of(absorbed)
    if absorbed_to:
        _apply_merges(sql, absorbed_to, stamp)
        by_survivor: dict[str, list[str]] = {}
        for absorbed_id, survivor_id in absorbed_to.items():
            by_survivor.setdefault(survivor_id, []).append(absorbed_id)
        result.changes.extend(
            ProfileChange("merged", s, tuple(sorted(a))) for s, a in sorted(by_survivor.items())
        )

    key_ids = {key: k[0] for key, k in known.items()}
    if new_keys:
        new_ids = _new_identifier_ids(sql, len(new_keys))
        rows = []
        seen_rows = []
        for id_, (k, connection) in zip(new_ids, new_keys.items(), strict=True):
            key_ids[k] = id_
            rows.append((id_, k[0], k[1], contact_of(key_node[k]), connection))
            seen_rows.append((id_, first_at[k], last_at[k]))
        sql.many(
            "INSERT INTO identifiers (id, type, value, contact_id, connection) "
            f"VALUES ({marks(5)})",
            rows,
        )
        sql.many(
            "INSERT INTO identifier_seen (identifier_id, first_seen, last_seen) "
            f"VALUES ({marks(3)})",
            seen_rows,
        )
    touched = [(first_at[k], last_at[k], key_ids[k]) for k in first_at if k in known]
    if touched:
        # Widen first/last seen of known identifiers in SQL (no rows read back); rows
        # whose window already covers the batch (replays) are left alone.
        sql.many(
            "UPDATE identifier_seen SET "
            "first_seen = CASE WHEN first_seen > ? THEN ? ELSE first_seen END, "
            "last_seen = CASE WHEN last_seen < ? THEN ? ELSE last_seen END "
            "WHERE identifier_id = ? AND (first_seen > ? OR last_seen < ?)",
            [(lo, lo, hi, hi, id_, lo, hi) for lo, hi, id_ in touched],
        )

    new_rejects: set[tuple[int, int]] = set()
    if pending_edges:
        if rejects:
            # A refusal is logged once: only when its edge is new to the store (a pair
            # both of whose identifiers are new cannot be stored yet).
            for _i, anchor_key, k, _rule in rejects:
                pair = (anchor_key, k) if anchor_key < k else (k, anchor_key)
                if pending_edges[pair][3] == "rejected":
                    a, b = key_ids[anchor_key], key_ids[k]
                    new_rejects.add((a, b) if a < b else (b, a))
            stored = {e for e in new_rejects if e[0] in known_ids and e[1] in known_ids}
            if stored:
                new_rejects -= _load_edges(sql, {x for e in stored for x in e}, removed=False)
        edge_rows = []
        for (ka, kb), (record_id, connection, at, status, reason) in pending_edges.items():
            a, b = key_ids[ka], key_ids[kb]
            edge_rows.append(
                (a, b, record_id, connection, at, status, reason)
                if a < b
                else (b, a, record_id, connection, at, status, reason)
            )
        # Same upgrade in the store: a pair refused earlier becomes active once a record
        # links it within the rules; anything else already stored is kept as it is.
        sql.many(
            "INSERT INTO edges (src_id, dst_id, record_id, connection, observed_at, status, "
            f"reason) VALUES ({marks(7)}) ON CONFLICT (src_id, dst_id) DO UPDATE SET "
            "status = excluded.status, reason = NULL, record_id = excluded.record_id, "
            "connection = excluded.connection, observed_at = excluded.observed_at "
            "WHERE edges.status = 'rejected' AND excluded.status = 'active'",
            edge_rows,
        )

    # The log's rows as driver SQL too: at a merge or a refusal per few dozen records, a
    # Core insert's per-row compilation cost more than SQLite's work.
    log_rows: list[tuple[Any, ...]] = []
    at_bound = ts(stamp)
    for survivor, absorbed, i, linked in merges:
        rec = records[i]
        detail = {"identifier_ids": [key_ids[k] for k in linked]}
        log_rows.append(
            (
                at_bound,
                "merge",
                contact_of(survivor),
                contact_of_node[absorbed],
                None,
                rec.record_id,
                rec.connection,
                json_text(detail),
            )
        )
    for i, anchor_key, k, rule in rejects:
        a, b = key_ids[anchor_key], key_ids[k]
        if (min(a, b), max(a, b)) not in new_rejects:
            continue  # a replay: this refusal is already on record
        rec = records[i]
        contact, other = contact_of(record_node[i]), contact_of(key_node[k])
        result.decisions.append(Decision(rec.record_id, rule, k[0], contact, other))
        detail = {"kept_identifier_id": a, "refused_identifier_id": b, "type": k[0]}
        log_rows.append(
            (
                at_bound,
                "reject",
                contact,
                other,
                rule,
                rec.record_id,
                rec.connection,
                json_text(detail),
            )
        )
    if log_rows:
        sql.many(
            "INSERT INTO merge_log (at, action, survivor, other, rule, record_id, connection, "
            f"detail) VALUES ({marks(7)}, {'CAST(? AS JSON)' if sql.driver.postgres else '?'})",
            log_rows,
        )
    return result
