"""One run per source connection at a time, across every hub process sharing the store.

A lease is a row in ``sync_leases`` naming its holder and when it expires. Taking it is
one upsert whose update applies only to an expired row (or the holder's own): on
PostgreSQL the conflicting upserts queue on the row lock and the loser's update finds a
live lease and does nothing; on SQLite writers are serialised anyway. The same statement
on both backends, so there is one code path to test. A holder renews the lease while it
runs (every third of its length); a process that dies stops renewing, and the next run
takes the lease over once it has expired, or at once when the holder ran on the same
host in a process that no longer exists (a daemon killed and restarted on one machine).

Clocks: expiry is written and compared with the clock of the process that takes the
lease, so hosts sharing a store must keep their clocks within a fraction of the lease's
length of each other (NTP does far better).
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, delete, select, update

from spokehub_contracts import utcnow

from ..store.driver_sql import dialect_insert, transaction, utc
from ..store.tables import sync_leases


def new_holder() -> str:
    """A holder name for one run: host, process and a random part (two runs of one
    process are two holders)."""
    return f"{_host()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _host() -> str:
    return socket.gethostname()[:64]


def _dead_here(holder: str) -> bool:
    """Whether ``holder`` ran on this host in a process that no longer exists: a daemon
    killed and restarted on one machine need not wait for its old lease to expire."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != _host() or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


@dataclass(frozen=True)
class LeaseHeld(Exception):
    """Another run holds the connection's lease."""

    connection: str
    holder: str
    expires_at: datetime

    def __str__(self) -> str:
        return (
            f"{self.connection}: another run holds it ({self.holder}) until "
            f"{self.expires_at:%Y-%m-%d %H:%M:%S} UTC"
        )


def acquire(engine: Engine, connection: str, holder: str, ttl: float) -> None:
    """Take the lease of ``connection`` for ``ttl`` seconds.

    :raises LeaseHeld: another holder's lease has not expired.
    """
    now = utcnow()
    with transaction(engine) as conn:
        stmt = dialect_insert(conn, sync_leases).values(
            connection=connection,
            holder=holder,
            acquired_at=now,
            expires_at=now + timedelta(seconds=ttl),
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["connection"],
                set_={
                    "holder": stmt.excluded.holder,
                    "acquired_at": stmt.excluded.acquired_at,
                    "expires_at": stmt.excluded.expires_at,
                },
                where=(sync_leases.c.expires_at < now) | (sync_leases.c.holder == holder),
            )
        )
        row = conn.execute(
            select(sync_leases.c.holder, sync_leases.c.expires_at).where(
                sync_leases.c.connection == connection
            )
        ).one()
        if row.holder != holder and _dead_here(row.holder):
            # Only if it still names the dead holder: another live run may have won it.
            taken = conn.execute(
                update(sync_leases)
                .where(sync_leases.c.connection == connection, sync_leases.c.holder == row.holder)
                .values(holder=holder, acquired_at=now, expires_at=now + timedelta(seconds=ttl))
            )
            if taken.rowcount:
                return
    if row.holder != holder:
        raise LeaseHeld(connection, row.holder, utc(row.expires_at))


def renew(engine: Engine, connection: str, holder: str, ttl: float) -> bool:
    """Push the lease's expiry ``ttl`` seconds ahead; False if ``holder`` no longer has
    it (it expired and another run took it over)."""
    with transaction(engine) as conn:
        result = conn.execute(
            update(sync_leases)
            .where(sync_leases.c.connection == connection, sync_leases.c.holder == holder)
            .values(expires_at=utcnow() + timedelta(seconds=ttl))
        )
    return bool(result.rowcount)


def release(engine: Engine, connection: str, holder: str) -> None:
    """Give the lease back (a no-op if ``holder`` lost it)."""
    with transaction(engine) as conn:
        conn.execute(
            delete(sync_leases).where(
                sync_leases.c.connection == connection, sync_leases.c.holder == holder
            )
        )
