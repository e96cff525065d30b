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

from sqlalchemy import Connection, and_, or_, select

from spokehub.store.driver_sql import dialect_insert, utc, utcnow
from spokehub_contracts import Consent

from .tables import consent_ledger, consents

#: Longest evidence kept; a longer reference is cut, never refused.
EVIDENCE_LENGTH = 500


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
    c = consents.c
    purpose = consent.purpose.value
    query = select(c.granted).where(c.contact_id == contact_id, c.purpose == purpose)
    before = conn.execute(query).scalar_one_or_none()
    if not repeats and before is not None and bool(before) == consent.granted:
        return False
    recorded_at = utc(consent.recorded_at)
    conn.execute(
        consent_ledger.insert(),
        {
            "contact_id": contact_id,
            "purpose": purpose,
            "granted": consent.granted,
            "source": consent.source,
            "recorded_at": recorded_at,
            "evidence": evidence[:EVIDENCE_LENGTH] if evidence else None,
            "received_at": utcnow(),
        },
    )
    stmt = dialect_insert(conn, consents)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.contact_id, c.purpose],
        set_={"granted": new.granted, "source": new.source, "recorded_at": new.recorded_at},
        where=or_(
            new.recorded_at > c.recorded_at,
            and_(new.recorded_at == c.recorded_at, new.granted.is_(False), c.granted.is_(True)),
        ),
    )
    conn.execute(
        stmt,
        {
            "contact_id": contact_id,
            "purpose": purpose,
            "granted": consent.granted,
            "source": consent.source,
            "recorded_at": recorded_at,
        },
    )
    return conn.execute(query).scalar_one() != before


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
