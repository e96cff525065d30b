"""Step 4 of resolution: carry out a write plan through the store seam.

Writes, as driver SQL in a handful of ``executemany`` statements: new profiles, merges
(redirects and identifiers moved to survivors), new identifiers and their sightings,
widened sightings of known ones, evidence edges and the merge log. Runs in the caller's
transaction and never commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..store.driver_sql import Cursor, marks, utcnow
from ..store.engine import json_text
from .batch import Batch
from .decide import Graph, Plan
from .evidence import Key
from .load import load_edges
from .outcome import Decision, ResolveResult


def apply_plan(
    sql: Cursor, batch: Batch, graph: Graph, plan: Plan, *, stamp: datetime | None = None
) -> ResolveResult:
    """Write ``plan`` (decided for ``batch`` against ``graph``); what the batch resolved to.

    A refusal is logged, and answered as a :class:`~.outcome.Decision`, only when its
    pair is new to the store: a replayed batch logs nothing again. ``stamp`` (default:
    now) dates new profiles, merges and log entries.
    """
    records = batch.records
    known = graph.known
    stamp = stamp or utcnow()
    at_bound = sql.driver.stamp(stamp)
    result = ResolveResult(plan.contact_ids, plan.changes(), ignored=batch.ignored)

    if plan.created:
        sql.many(
            f"INSERT INTO profiles (contact_id, created_at) VALUES ({marks(2)})",
            [(cid, at_bound) for cid in plan.created],
        )
    if plan.absorbed_to:
        _merge(sql, plan.absorbed_to, at_bound)

    key_ids = {key: k[0] for key, k in known.items()}
    first_at, last_at = plan.first_seen, plan.last_seen
    if plan.new_identifiers:
        rows = []
        seen_rows = []
        new_ids = _new_identifier_ids(sql, len(plan.new_identifiers))
        for id_, (k, (contact, connection)) in zip(
            new_ids, plan.new_identifiers.items(), strict=True
        ):
            key_ids[k] = id_
            rows.append((id_, k[0], k[1], contact, connection))
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

    new_rejects = _new_refusals(sql, graph, plan, key_ids)
    if plan.edges:
        # Edges keep the driver's own timestamp form (text on SQLite), bound once a record.
        bound: dict[int, tuple[str, str, Any]] = {}
        edge_rows = []
        for (ka, kb), (i, status, reason) in plan.edges.items():
            shown = bound.get(i)
            if shown is None:
                rec = records[i]
                shown = bound[i] = (
                    rec.record_id,
                    rec.connection,
                    sql.driver.stamp(batch.observed_at[i]),
                )
            a, b = key_ids[ka], key_ids[kb]
            edge_rows.append(
                (a, b, *shown, status, reason) if a < b else (b, a, *shown, status, reason)
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
    for survivor, absorbed, i, linked in plan.merges:
        rec = records[i]
        detail = {"identifier_ids": [key_ids[k] for k in linked]}
        log_rows.append(
            (
                at_bound,
                "merge",
                survivor,
                absorbed,
                None,
                rec.record_id,
                rec.connection,
                json_text(detail),
            )
        )
    for i, kept, k, rule, contact, other in plan.refusals:
        a, b = key_ids[kept], key_ids[k]
        if (min(a, b), max(a, b)) not in new_rejects:
            continue  # a replay: this refusal is already on record
        rec = records[i]
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


def _merge(sql: Cursor, absorbed_to: Mapping[str, str], at: Any) -> None:
    """Point absorbed profiles, their redirects and identifiers at their survivors."""
    pairs = sorted(absorbed_to.items())
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


def _new_refusals(
    sql: Cursor, graph: Graph, plan: Plan, key_ids: dict[Key, int]
) -> set[tuple[int, int]]:
    """The refused pairs (row ids, smaller first) whose edge is new to the store: a
    refusal is logged once (a pair both of whose identifiers are new cannot be stored
    yet, so only pairs of stored identifiers are looked up)."""
    if not plan.refusals:
        return set()
    fresh: set[tuple[int, int]] = set()
    for refusal in plan.refusals:
        kept, k = refusal.kept, refusal.refused
        if plan.edges[(kept, k) if kept < k else (k, kept)][1] == "rejected":
            a, b = key_ids[kept], key_ids[k]
            fresh.add((a, b) if a < b else (b, a))
    stored_ids = {k[0] for k in graph.known.values()}
    stored = {e for e in fresh if e[0] in stored_ids and e[1] in stored_ids}
    if stored:
        fresh -= load_edges(sql, {x for e in stored for x in e}, removed=False)
    return fresh
