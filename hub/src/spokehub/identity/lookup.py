"""Reading the identity store: which live profile holds an identifier or a contact ID."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, select

from ..store.driver_sql import cursor
from .evidence import IdentifierLike, Key
from .load import load_known
from .tables import identifiers, profiles


def lookup(conn: Connection, identifier: IdentifierLike) -> str | None:
    """The live contact ID holding ``identifier``, or ``None`` if it was never seen."""
    return conn.execute(
        select(identifiers.c.contact_id).where(
            identifiers.c.value == identifier.value, identifiers.c.type == identifier.type
        )
    ).scalar_one_or_none()


def lookup_many(conn: Connection, keys: Iterable[Key]) -> dict[Key, str]:
    """Live contact IDs of the known ``(type, value)`` keys, in a few set-based queries."""
    return {k: known[1] for k, known in load_known(cursor(conn), set(keys)).items()}


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
