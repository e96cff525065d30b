"""Accounts (organisations) and memberships (B2B).

A person who changes employer keeps their history: the old membership is ended, a new
one starts; nothing about the person moves.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, select, update

from spokehub.store.driver_sql import dialect_insert, utc, utcnow
from spokehub_contracts import Account, Membership

from .tables import accounts, memberships


def upsert_account(conn: Connection, account: Account) -> None:
    """Create or update an account; its traits are replaced by ``account``'s. Never commits."""
    stmt = dialect_insert(conn, accounts)
    traits = account.model_dump(mode="json", exclude={"account_id", "name"}, exclude_none=True)
    stmt = stmt.on_conflict_do_update(
        index_elements=[accounts.c.account_id],
        set_={"name": stmt.excluded.name, "traits": stmt.excluded.traits, "updated_at": utcnow()},
    )
    conn.execute(
        stmt,
        {
            "account_id": account.account_id,
            "name": account.name,
            "traits": traits,
            "updated_at": utcnow(),
        },
    )


def add_membership(
    conn: Connection, contact_id: str, membership: Membership, *, connection: str
) -> int:
    """Record that ``contact_id`` belongs to ``membership.account_id``; returns the row id.

    An open membership of the same account is updated (role, start, end) rather than
    duplicated; otherwise a new one starts. Creates the account row if it is unknown.
    Never commits.
    """
    if (
        conn.execute(
            select(accounts.c.account_id).where(accounts.c.account_id == membership.account_id)
        ).first()
        is None
    ):
        upsert_account(conn, Account(account_id=membership.account_id))
    m = memberships.c
    open_row = conn.execute(
        select(m.id, m.role, m.started_at)
        .where(
            m.contact_id == contact_id,
            m.account_id == membership.account_id,
            m.ended_at.is_(None),
        )
        .order_by(m.id)
    ).first()
    started = utc(membership.started_at) if membership.started_at else None
    ended = utc(membership.ended_at) if membership.ended_at else None
    if open_row is not None:
        conn.execute(
            update(memberships)
            .where(m.id == open_row.id)
            .values(
                role=membership.role or open_row.role,
                started_at=started or open_row.started_at,
                ended_at=ended,
            )
        )
        return int(open_row.id)
    inserted = conn.execute(
        memberships.insert().returning(m.id),
        {
            "contact_id": contact_id,
            "account_id": membership.account_id,
            "role": membership.role,
            "started_at": started,
            "ended_at": ended,
            "connection": connection,
        },
    )
    return int(inserted.scalar_one())


def end_membership(conn: Connection, contact_id: str, account_id: str, ended_at: datetime) -> int:
    """End ``contact_id``'s open memberships of ``account_id`` at ``ended_at``; returns how
    many were ended (0 if none was open). Never commits."""
    m = memberships.c
    result = conn.execute(
        update(memberships)
        .where(m.contact_id == contact_id, m.account_id == account_id, m.ended_at.is_(None))
        .values(ended_at=utc(ended_at))
    )
    return int(result.rowcount or 0)
