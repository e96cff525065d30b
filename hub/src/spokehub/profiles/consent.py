"""Consent: every decision appended to a ledger, the current state per purpose derived.

The ledger (``consent_ledger``) keeps every decision the hub is told of, with the
connection it came through and its evidence. The current decision per profile and
purpose (``consents``, which the delivery gate reads) is the ledger's latest entry by
*recorded* time, not by arrival: a decision that arrives late but was taken earlier is
kept in the ledger and changes nothing. At the same recorded instant a denial beats a
grant (the careful choice); between two entries that agree, the first one stays current.
Both tables change in the caller's transaction, so the state never drifts from its
ledger; :func:`derive` recomputes it from the ledger alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, select

from spokehub.store.driver_sql import cursor, utc, utcnow
from spokehub_contracts import Consent

from .tables import consent_ledger

#: Longest evidence kept; a longer reference is cut, never refused.
EVIDENCE_LENGTH = 500
_LEDGER_COLUMNS = (
    "contact_id",
    "purpose",
    "granted",
    "source",
    "recorded_at",
    "evidence",
    "received_at",
)


@dataclass(frozen=True)
class LedgerEntry:
    """One decision as the ledger keeps it."""

    purpose: str
    granted: bool
    source: str
    recorded_at: datetime
    evidence: str | None
    received_at: datetime


def set_consent(
    conn: Connection,
    contact_id: str,
    consent: Consent,
    *,
    evidence: str | None = None,
    repeats: bool = True,
) -> bool:
    """Append ``consent`` to the ledger of the live profile ``contact_id`` and update
    the profile's current decision for its purpose.

    :param evidence: what proves the decision (a message id, a webhook event id).
    :param repeats: ``False`` leaves out a decision that agrees with the current one
        (a Segment call carries its consent object on every call; only a change of mind
        is worth an entry).
    :returns: whether the profile's current decision for the purpose changed (granted
        became denied or the other way round, or the first decision was recorded).

    Runs in the caller's transaction and never commits.
    """
    # Driver SQL: Segment calls can carry a consent object each, so this runs per call.
    cur = cursor(conn)
    stamp, parse = cur.driver.stamp, cur.driver.parse
    purpose = consent.purpose.value
    granted = consent.granted
    found = cur.rows(
        "SELECT granted, recorded_at FROM consents WHERE contact_id = ? AND purpose = ?",
        (contact_id, purpose),
    )
    before = (bool(found[0][0]), parse(found[0][1])) if found else None
    if not repeats and before is not None and before[0] == granted:
        return False
    recorded_at = utc(consent.recorded_at)
    source = consent.source
    cur.insert(
        "consent_ledger",
        _LEDGER_COLUMNS,
        [
            (
                contact_id,
                purpose,
                granted,
                source,
                stamp(recorded_at),
                evidence[:EVIDENCE_LENGTH] if evidence else None,
                stamp(utcnow()),
            )
        ],
    )
    wins = (
        before is None
        or recorded_at > before[1]
        or (recorded_at == before[1] and before[0] and not granted)
    )
    if not wins:
        return False
    # The same rule in the statement, so a writer that got there first is not overruled.
    cur.run(
        "INSERT INTO consents (contact_id, purpose, granted, source, recorded_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT (contact_id, purpose) DO UPDATE SET"
        " granted = excluded.granted, source = excluded.source,"
        " recorded_at = excluded.recorded_at"
        " WHERE excluded.recorded_at > consents.recorded_at"
        " OR (excluded.recorded_at = consents.recorded_at"
        " AND consents.granted AND NOT excluded.granted)",
        (contact_id, purpose, granted, source, stamp(recorded_at)),
    )
    return before is None or before[0] != granted


def decisions(conn: Connection, contact_id: str) -> dict[str, bool]:
    """The current decision per purpose of the live profile ``contact_id``."""
    rows = cursor(conn).rows(
        "SELECT purpose, granted FROM consents WHERE contact_id = ?", (contact_id,)
    )
    return {purpose: bool(granted) for purpose, granted in rows}


def history(conn: Connection, contact_id: str) -> list[LedgerEntry]:
    """The ledger of ``contact_id`` (a live contact ID), oldest decision first."""
    c = consent_ledger.c
    rows = conn.execute(
        select(c.purpose, c.granted, c.source, c.recorded_at, c.evidence, c.received_at)
        .where(c.contact_id == contact_id)
        .order_by(c.recorded_at, c.id)
    )
    return [
        LedgerEntry(
            purpose=r.purpose,
            granted=bool(r.granted),
            source=r.source,
            recorded_at=utc(r.recorded_at),
            evidence=r.evidence,
            received_at=utc(r.received_at),
        )
        for r in rows
    ]


def derive(entries: Iterable[LedgerEntry]) -> dict[str, LedgerEntry]:
    """The current decision per purpose, from ledger entries in the order they were
    appended (or as :func:`history` sorts them): the latest recorded wins; at the same
    instant a denial beats a grant; otherwise the entry already current stays."""
    current: dict[str, LedgerEntry] = {}
    for entry in entries:
        held = current.get(entry.purpose)
        if (
            held is None
            or entry.recorded_at > held.recorded_at
            or (entry.recorded_at == held.recorded_at and held.granted and not entry.granted)
        ):
            current[entry.purpose] = entry
    return current
