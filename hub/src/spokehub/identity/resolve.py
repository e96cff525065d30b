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

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple, Protocol

from sqlalchemy import Connection, bindparam, case, func, or_, select, update
from sqlalchemy.exc import DBAPIError

from . import locks
from .ids import new_contact_id
from .rules import IdentityRules
from .sql import chunks, is_postgres, now, upsert, utc
from .tables import edges, identifiers, merge_log, profiles

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


@dataclass(slots=True)
class _Cluster:
    """A profile while a batch is resolved: existing (``contact``) or new (``None``)."""

    counts: dict[str, int]
    contact: str | None


class _Known(NamedTuple):
    id: int
    contact_id: str


def lookup(conn: Connection, identifier: IdentifierLike) -> str | None:
    """The live contact ID holding ``identifier``, or ``None`` if it was never seen."""
    return conn.execute(
        select(identifiers.c.contact_id).where(
            identifiers.c.value == identifier.value, identifiers.c.type == identifier.type
        )
    ).scalar_one_or_none()


def lookup_many(conn: Connection, keys: Iterable[Key]) -> dict[Key, str]:
    """Live contact IDs of the known ``(type, value)`` keys, in a few set-based queries."""
    return {k: known.contact_id for k, known in _load_known(conn, set(keys)).items()}


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


def _load_known(conn: Connection, keys: set[Key]) -> dict[Key, _Known]:
    values = sorted({v for _, v in keys})
    found: dict[Key, _Known] = {}
    c = identifiers.c
    for part in chunks(values):
        rows = conn.execute(select(c.id, c.type, c.value, c.contact_id).where(c.value.in_(part)))
        for id_, type_, value, contact_id in rows:
            key = (type_, value)
            if key in keys:
                found[key] = _Known(id_, contact_id)
    return found


def _load_counts(conn: Connection, contact_ids: set[str]) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = {cid: {} for cid in contact_ids}
    c = identifiers.c
    for part in chunks(sorted(contact_ids)):
        rows = conn.execute(
            select(c.contact_id, c.type, func.count())
            .where(c.contact_id.in_(part))
            .group_by(c.contact_id, c.type)
        )
        for contact_id, type_, n in rows:
            counts[contact_id][type_] = n
    return counts


def _load_removed_pairs(conn: Connection, ids: set[int]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    e = edges.c
    for part in chunks(sorted(ids)):
        rows = conn.execute(
            select(e.src_id, e.dst_id).where(e.src_id.in_(part), e.status == "removed")
        )
        pairs.update((r.src_id, r.dst_id) for r in rows)
    return {p for p in pairs if p[1] in ids}


def _lock_and_load(conn: Connection, keys: set[Key]) -> dict[Key, _Known]:
    """Load the known identifiers of ``keys``; on PostgreSQL, first lock them and their
    profiles (see :mod:`spokehub.identity.locks`)."""
    if not is_postgres(conn):
        return _load_known(conn, keys)
    locks.lock_identifiers(conn, keys)
    locked: set[str] = set()
    for _attempt in range(20):
        known = _load_known(conn, keys)
        needed = {k.contact_id for k in known.values()} - locked
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


def _apply_merges(conn: Connection, absorbed_to: Mapping[str, str], stamp: datetime) -> None:
    """Point absorbed profiles, their redirects, identifiers and data at their survivors."""
    from spokehub.profiles.merge import merge_profile_data

    pairs = [{"a": a, "s": s, "at": stamp} for a, s in sorted(absorbed_to.items())]
    p, c = profiles.c, identifiers.c
    conn.execute(
        update(profiles)
        .where(p.contact_id == bindparam("a"))
        .values(merged_into=bindparam("s"), merged_at=bindparam("at")),
        pairs,
    )
    # Keep redirects one hop deep: whatever pointed at an absorbed ID now points further.
    conn.execute(
        update(profiles).where(p.merged_into == bindparam("a")).values(merged_into=bindparam("s")),
        pairs,
    )
    conn.execute(
        update(identifiers).where(c.contact_id == bindparam("a")).values(contact_id=bindparam("s")),
        pairs,
    )
    merge_profile_data(conn, absorbed_to)


def _touch(
    conn: Connection,
    known: Mapping[Key, _Known],
    touched: Mapping[Key, tuple[datetime, datetime]],
) -> None:
    """Widen first/last seen of known identifiers, in SQL (no rows read back); rows whose
    window already covers the batch (replays) are left alone."""
    if not touched:
        return
    c = identifiers.c
    f, la = bindparam("f", type_=c.first_seen.type), bindparam("l", type_=c.last_seen.type)
    conn.execute(
        update(identifiers)
        .where(c.id == bindparam("i"), or_(c.first_seen > f, c.last_seen < la))
        .values(
            first_seen=case((c.first_seen > f, f), else_=c.first_seen),
            last_seen=case((c.last_seen < la, la), else_=c.last_seen),
        ),
        [{"i": known[key].id, "f": lo, "l": hi} for key, (lo, hi) in touched.items()],
    )


def resolve_batch(
    conn: Connection, rules: IdentityRules, records: Sequence[Evidence]
) -> ResolveResult:
    """Resolve ``records`` to contact IDs, creating, attaching and merging profiles.

    Runs inside the caller's transaction on ``conn`` and never commits. Set-based: a batch
    costs a handful of queries however many identifiers it carries. Replaying records is
    idempotent (same partition, same contact IDs, no new log entries). Merges are written
    to the merge log with their evidence, refused links as ``reject`` entries.
    """
    rules_nm = frozenset(rules.never_merge_on)
    limit, default_limit = rules.limits.get, rules.default_limit
    result = ResolveResult(contact_ids=[None] * len(records))

    # 1. Normalize the batch: blocked values out, identifiers deduplicated and ordered.
    order = sorted(
        range(len(records)), key=lambda i: (utc(records[i].observed_at), records[i].record_id)
    )
    prepared: list[tuple[int, list[Key], datetime]] = []
    all_keys: set[Key] = set()
    compiled = rules.compiled()
    ranks, star, blocked = compiled.ranks, compiled.star, compiled.blocked.match
    for i in order:
        rec = records[i]
        seen: dict[Key, None] = {}
        for ident in rec.identifiers:
            if blocked(ident.value):
                result.ignored += 1
                continue
            seen[(ident.type, ident.value)] = None
        if not seen:
            continue
        ks = sorted(seen, key=lambda k: (ranks.get(k[0], star), k)) if len(seen) > 1 else [*seen]
        all_keys.update(ks)
        prepared.append((i, ks, utc(rec.observed_at)))
    if not prepared:
        return result

    # 2. Load (and on PostgreSQL lock) what the store knows about these identifiers.
    known = _lock_and_load(conn, all_keys)
    existing_counts = _load_counts(conn, {k.contact_id for k in known.values()})
    known_ids = {k.id: key for key, k in known.items()}
    removed = _load_removed_pairs(conn, set(known_ids)) if known_ids else set()
    removed_keys = {(known_ids[a], known_ids[b]) for a, b in removed}
    removed_keys |= {(b, a) for a, b in removed_keys}
    has_removed = {k for pair in removed_keys for k in pair}

    # 3. Resolve in memory: a union-find over clusters (existing profiles and new ones).
    parent: list[int] = []
    clusters: list[_Cluster] = []

    def make(counts: dict[str, int], contact: str | None) -> int:
        parent.append(len(parent))
        clusters.append(_Cluster(counts, contact))
        return len(parent) - 1

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def anchored(root: int) -> bool:
        return any(n and t not in rules_nm for t, n in clusters[root].counts.items())

    contact_node = {cid: make(dict(cnt), cid) for cid, cnt in existing_counts.items()}
    key_node: dict[Key, int] = {key: contact_node[k.contact_id] for key, k in known.items()}
    new_keys: dict[Key, tuple[datetime, datetime, str]] = {}  # first, last, connection
    touched: dict[Key, tuple[datetime, datetime]] = {}  # known keys: min and max seen
    record_node: dict[int, int] = {}
    pending_edges: dict[tuple[Key, Key], tuple[str, str, datetime, str, str | None]] = {}
    # (survivor node, absorbed node, record index, the record's linked identifiers)
    merges: list[tuple[int, int, int, tuple[Key, ...]]] = []
    rejects: list[tuple[int, Key, Key, str]] = []  # (record index, anchor, dropped, rule)

    for i, ks, at in prepared:
        rec = records[i]
        roots: list[int | None] = [find(key_node[k]) if k in key_node else None for k in ks]
        dropped: list[tuple[Key, str]] = []

        # An operator's unmerge is sticky: never re-join a removed pair.
        if has_removed and any(k in has_removed for k in ks):
            j = len(ks) - 1
            while j > 0:
                if any((ks[j], ks[m]) in removed_keys for m in range(j)):
                    _drop(ks, roots, dropped, j, "unmerged")
                j -= 1

        if rules_nm and len(ks) > 1:
            strong = {
                r for k, r in zip(ks, roots, strict=True) if r is not None and k[0] not in rules_nm
            }
            strong_new = any(
                r is None and k[0] not in rules_nm for k, r in zip(ks, roots, strict=True)
            )
            if not strong and not strong_new:
                # Only never-merge identifiers: the first anchored profile is the record's.
                strong = {next((r for r in roots if r is not None and anchored(r)), -1)}
            for j in range(len(ks) - 1, -1, -1):
                r = roots[j]
                if r is not None and ks[j][0] in rules_nm and r not in strong and anchored(r):
                    _drop(ks, roots, dropped, j, "never_merge")

        while len(ks) > 1:
            total: dict[str, int] = {}
            for r in {r for r in roots if r is not None}:
                for t, n in clusters[r].counts.items():
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
                if (
                    ks[j][0] in over
                    if roots[j] is None
                    else over & clusters[roots[j]].counts.keys()
                )
            ]
            if not droppable:
                break  # the profile was over a limit already (rules were tightened)
            _drop(ks, roots, dropped, (relieving or droppable)[-1], "limit")

        # Join what is left into one cluster; the oldest existing contact ID survives.
        target: int | None = None
        for r in roots:
            if r is None:
                continue
            r = find(r)
            if target is None:
                target = r
                continue
            if r == target:
                continue
            a, b = clusters[target], clusters[r]
            if a.contact is not None and b.contact is not None:
                survivor, absorbed = (target, r) if a.contact < b.contact else (r, target)
                merges.append((survivor, absorbed, i, tuple(ks)))
            elif b.contact is not None:
                survivor, absorbed = r, target
            else:
                survivor, absorbed = target, r
            for t, n in clusters[absorbed].counts.items():
                clusters[survivor].counts[t] = clusters[survivor].counts.get(t, 0) + n
            parent[absorbed] = survivor
            target = survivor
        if target is None:
            target = make({}, None)
        counts = clusters[target].counts
        for k in ks:
            if k not in key_node:
                key_node[k] = target
                counts[k[0]] = counts.get(k[0], 0) + 1
        for k, _rule in dropped:
            if k not in key_node:
                key_node[k] = make({k[0]: 1}, None)
        record_node[i] = target

        # Bookkeeping for the writes: identifiers' first/last seen, edges, decisions.
        for k in (*ks, *(d for d, _ in dropped)):
            if k in known:
                lo, hi = touched.get(k, (at, at))
                touched[k] = (min(lo, at), max(hi, at))
            elif k in new_keys:
                first, last, connection = new_keys[k]
                new_keys[k] = (first, max(last, at), connection)
            else:
                new_keys[k] = (at, at, rec.connection)
        anchor_key = ks[0]
        for k in ks[1:]:
            pair = (anchor_key, k) if anchor_key < k else (k, anchor_key)
            # An accepted link outranks an earlier refusal of the same pair: the profile's
            # active edges must connect it, or unmerge would split it wrongly.
            if pair not in pending_edges or pending_edges[pair][3] != "active":
                pending_edges[pair] = (rec.record_id, rec.connection, at, "active", None)
        for k, rule in dropped:
            pair = (anchor_key, k) if anchor_key < k else (k, anchor_key)
            if pair not in pending_edges:
                pending_edges[pair] = (rec.record_id, rec.connection, at, "rejected", rule)
                rejects.append((i, anchor_key, k, rule))

    # 4. Write: new profiles, merges, identifiers, edges, log.
    stamp = now()
    final_contact: dict[int, str] = {}

    def contact_of(node: int) -> str:
        root = find(node)
        cid = clusters[root].contact
        if cid is None:
            cid = final_contact.get(root)
            if cid is None:
                cid = final_contact[root] = new_contact_id()
        return cid

    for i, _ks, _at in prepared:
        result.contact_ids[i] = contact_of(record_node[i])
    for node in {key_node[k] for k in new_keys}:
        contact_of(node)
    if final_contact:
        conn.execute(
            profiles.insert(),
            [{"contact_id": cid, "created_at": stamp} for cid in sorted(final_contact.values())],
        )
        result.changes.extend(
            ProfileChange("created", cid) for cid in sorted(final_contact.values())
        )

    absorbed_to: dict[str, str] = {}
    for _survivor, absorbed, _i, _ks in merges:
        absorbed_id = clusters[absorbed].contact
        assert absorbed_id is not None  # only existing profiles are logged as merged
        absorbed_to[absorbed_id] = contact_of(absorbed)
    if absorbed_to:
        _apply_merges(conn, absorbed_to, stamp)
        by_survivor: dict[str, list[str]] = {}
        for absorbed_id, survivor_id in absorbed_to.items():
            by_survivor.setdefault(survivor_id, []).append(absorbed_id)
        result.changes.extend(
            ProfileChange("merged", s, tuple(sorted(a))) for s, a in sorted(by_survivor.items())
        )

    key_ids = {key: k.id for key, k in known.items()}
    if new_keys:
        rows = [
            {
                "type": k[0],
                "value": k[1],
                "contact_id": contact_of(key_node[k]),
                "first_seen": first,
                "last_seen": last,
                "connection": connection,
            }
            for k, (first, last, connection) in new_keys.items()
        ]
        # Plain executemany, then one set-based read of the new ids: RETURNING with
        # parameter order would cost one round trip per row on SQLite.
        conn.execute(identifiers.insert(), rows)
        key_ids.update({key: k.id for key, k in _load_known(conn, set(new_keys)).items()})
    _touch(conn, known, touched)

    new_rejects: set[tuple[int, int]] = set()
    if pending_edges:
        edge_rows = []
        for (ka, kb), (record_id, connection, at, status, reason) in pending_edges.items():
            a, b = key_ids[ka], key_ids[kb]
            edge_rows.append(
                {
                    "src_id": min(a, b),
                    "dst_id": max(a, b),
                    "record_id": record_id,
                    "connection": connection,
                    "observed_at": at,
                    "status": status,
                    "reason": reason,
                }
            )
        # Same upgrade in the store: a pair refused earlier becomes active once a record
        # links it within the rules; anything else already stored is kept as it is.
        stmt = upsert(conn, edges)
        stmt = stmt.on_conflict_do_update(
            index_elements=[edges.c.src_id, edges.c.dst_id],
            set_={
                "status": stmt.excluded.status,
                "reason": None,
                "record_id": stmt.excluded.record_id,
                "connection": stmt.excluded.connection,
                "observed_at": stmt.excluded.observed_at,
            },
            where=(edges.c.status == "rejected") & (stmt.excluded.status == "active"),
        )
        if rejects:
            inserted = conn.execute(
                stmt.returning(edges.c.src_id, edges.c.dst_id, edges.c.status), edge_rows
            )
            new_rejects = {(r.src_id, r.dst_id) for r in inserted if r.status == "rejected"}
        else:
            conn.execute(stmt, edge_rows)

    log_rows: list[dict[str, Any]] = []
    for survivor, absorbed, i, linked in merges:
        rec = records[i]
        log_rows.append(
            {
                "at": stamp,
                "action": "merge",
                "survivor": contact_of(survivor),
                "other": clusters[absorbed].contact,
                "rule": None,
                "record_id": rec.record_id,
                "connection": rec.connection,
                "detail": {"identifier_ids": [key_ids[k] for k in linked]},
            }
        )
    for i, anchor_key, k, rule in rejects:
        a, b = key_ids[anchor_key], key_ids[k]
        if (min(a, b), max(a, b)) not in new_rejects:
            continue  # a replay: this refusal is already on record
        rec = records[i]
        contact, other = contact_of(record_node[i]), contact_of(key_node[k])
        result.decisions.append(Decision(rec.record_id, rule, k[0], contact, other))
        log_rows.append(
            {
                "at": stamp,
                "action": "reject",
                "survivor": contact,
                "other": other,
                "rule": rule,
                "record_id": rec.record_id,
                "connection": rec.connection,
                "detail": {"kept_identifier_id": a, "refused_identifier_id": b, "type": k[0]},
            }
        )
    if log_rows:
        conn.execute(merge_log.insert(), log_rows)
    return result
