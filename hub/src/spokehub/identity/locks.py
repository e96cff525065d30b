"""Serializing concurrent resolutions on PostgreSQL.

Two transactions that touch the same identifier or the same profile must not interleave,
or one could move identifiers into a profile the other just absorbed (a lost merge) or
create the same identifier twice (a duplicate profile). Resolution takes, in order:

1. transaction-scoped advisory locks on a 64-bit hash of every identifier of the batch,
   in ascending order (one global order, so two batches never deadlock on them);
2. row locks (``FOR UPDATE``) on every live profile those identifiers belong to, again in
   ascending order, re-reading the identifiers afterwards because a concurrent merge may
   have moved them while this transaction waited.

Step 2 can rarely meet a deadlock when a re-read finds a profile that appeared meanwhile;
PostgreSQL then aborts one side's savepoint and that side simply retries the step.
SQLite needs none of this: every writer holds the database lock (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sqlalchemy import Connection, text

_LOCK_IDENTIFIERS = text(
    "SELECT count(pg_advisory_xact_lock(k)) FROM "
    "(SELECT k FROM unnest(CAST(:keys AS BIGINT[])) AS k ORDER BY k) AS ordered"
)
_LOCK_PROFILES = text(
    "SELECT count(*) FROM (SELECT contact_id FROM profiles "
    "WHERE contact_id = ANY(CAST(:ids AS VARCHAR[])) ORDER BY contact_id FOR UPDATE) AS locked"
)


def identifier_lock_key(type_: str, value: str) -> int:
    """A stable signed 64-bit key for an identifier (advisory locks take a bigint)."""
    digest = hashlib.blake2b(f"{type_}\x00{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


def lock_identifiers(conn: Connection, keys: Iterable[tuple[str, str]]) -> None:
    """Hold advisory locks on these identifiers until the transaction ends (PostgreSQL)."""
    hashed = sorted({identifier_lock_key(t, v) for t, v in keys})
    if hashed:
        conn.execute(_LOCK_IDENTIFIERS, {"keys": hashed})


def lock_profiles(conn: Connection, contact_ids: Iterable[str]) -> None:
    """Row-lock these profiles until the transaction ends (PostgreSQL)."""
    ids = sorted(set(contact_ids))
    if ids:
        conn.execute(_LOCK_PROFILES, {"ids": ids})
