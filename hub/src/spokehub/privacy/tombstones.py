"""Salted hashes of suppressed identifiers, and the check the pipeline makes with them.

The salt is random per store (made with the first tombstone and kept in
``privacy_settings``): a hash says nothing about an identifier to anyone who does not
also hold the store, and two hubs' tombstones cannot be matched against each other.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable, Sequence

from sqlalchemy import Connection, func, select, update

from ..store.driver_sql import chunks, cursor, dialect_insert, utcnow
from .tables import privacy_settings, suppressions

_SALT = "tombstone_salt"


def salt_of(conn: Connection, *, create: bool = False) -> bytes | None:
    """The store's tombstone salt; made (once, whoever asks first) when ``create``."""
    value = conn.execute(
        select(privacy_settings.c.value).where(privacy_settings.c.name == _SALT)
    ).scalar_one_or_none()
    if value is None and create:
        insert = dialect_insert(conn, privacy_settings).values(
            name=_SALT, value=secrets.token_hex(32)
        )
        conn.execute(insert.on_conflict_do_nothing(index_elements=["name"]))
        return salt_of(conn)
    return None if value is None else bytes.fromhex(value)


def tombstone(salt: bytes, type_: str, value: str) -> str:
    """The hex HMAC-SHA256 of a normalized identifier under ``salt``."""
    return hmac.new(salt, f"{type_}:{value}".encode(), hashlib.sha256).hexdigest()


class SuppressionCheck:
    """Which identifiers are suppressed; asked by the pipeline once per batch.

    Costs one indexed probe per batch while the store has no tombstone at all, and one
    ``IN`` query over the batch's hashes once it has some.
    """

    def __init__(self) -> None:
        self._salt: bytes | None = None

    def suppressed(
        self, conn: Connection, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], str]:
        """The suppressed ones among ``(type, value)`` keys, each with its hash."""
        keys = set(keys)
        # Driver SQL: asked every batch, where compiling the statement costs more than the
        # probe itself.
        if not keys or not cursor(conn).rows("SELECT 1 FROM suppressions LIMIT 1"):
            return {}
        if self._salt is None:
            self._salt = salt_of(conn)
            if self._salt is None:
                return {}
        hashed = {tombstone(self._salt, t, v): (t, v) for t, v in keys}
        found: dict[tuple[str, str], str] = {}
        for part in chunks(sorted(hashed)):
            for h in conn.execute(
                select(suppressions.c.hash).where(suppressions.c.hash.in_(part))
            ).scalars():
                found[hashed[h]] = h
        return found


def count_dropped(conn: Connection, hashes: Sequence[str]) -> None:
    """Count a dropped record against each tombstone that caught it."""
    now = utcnow()
    for h in hashes:
        conn.execute(
            update(suppressions)
            .where(suppressions.c.hash == h)
            .values(dropped=suppressions.c.dropped + 1, last_dropped_at=now)
        )


def dropped_total(conn: Connection) -> int:
    return int(
        conn.execute(select(func.coalesce(func.sum(suppressions.c.dropped), 0))).scalar_one()
    )
