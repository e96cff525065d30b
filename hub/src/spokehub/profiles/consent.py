"""Consent state per purpose: one current decision, recorded once, honoured everywhere."""

from __future__ import annotations

from sqlalchemy import Connection, and_, or_, select

from spokehub.store.driver_sql import dialect_insert, utc
from spokehub_contracts import Consent

from .tables import consents


def set_consent(conn: Connection, contact_id: str, consent: Consent) -> bool:
    """Record ``consent`` for the live profile ``contact_id``.

    The later decision per purpose wins; an older one arriving late is ignored; at the same
    instant a denial beats a grant. Returns whether the profile's current decision for the
    purpose changed. Runs in the caller's transaction and never commits.
    """
    c = consents.c
    purpose = consent.purpose.value
    query = select(c.granted).where(c.contact_id == contact_id, c.purpose == purpose)
    before = conn.execute(query).scalar_one_or_none()
    stmt = dialect_insert(conn, consents)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[c.contact_id, c.purpose],
        set_={"granted": new.granted, "source": new.source, "recorded_at": new.recorded_at},
        where=or_(
            new.recorded_at > c.recorded_at,
            and_(new.recorded_at == c.recorded_at, new.granted.is_(False)),
        ),
    )
    conn.execute(
        stmt,
        {
            "contact_id": contact_id,
            "purpose": purpose,
            "granted": consent.granted,
            "source": consent.source,
            "recorded_at": utc(consent.recorded_at),
        },
    )
    return conn.execute(query).scalar_one() != before
