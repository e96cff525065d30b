"""Replay: send a destination's items again.

``--dead-letters`` puts dead-lettered items back in the queue as they are (same row,
attempts reset), for when the cause was fixed. Without it, every item delivered or
dead-lettered in the period is queued again as a fresh copy (a new outbox row with a new
item id, so a vendor that de-duplicates by id still takes it), leaving the record of the
first delivery intact; e.g. to fill a tool that lost data. Suppressed items stay
suppressed (consent is not replayed around), and rows merged into another by coalescing
are not copied, since their content went out with the survivor.

``since`` bounds the period by when the change was made (the row's ``created_at``).
Replayed items go through the consent gate again at send time.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta

from pydantic import TypeAdapter
from sqlalchemy import Engine, and_, insert, or_, select, update

from spokehub.store.driver_sql import transaction, utcnow
from spokehub.store.tables import outbox
from spokehub_contracts import Change

from .record import SUPERSEDED

_CHANGE: TypeAdapter[Change] = TypeAdapter(Change)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """An ISO 8601 time (``2024-05-01``, ``2024-05-01T12:00:00+02:00``; UTC when no
    offset is given) or a duration back from now (``30m``, ``6h``, ``7d``).

    :raises ValueError: with a message saying which forms are accepted.
    """
    match = _DURATION.match(text)
    if match:
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
        return (now or utcnow()) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"--since {text!r}: give an ISO time (2024-05-01T12:00) or a duration (30m, 6h, 7d)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=utcnow().tzinfo)


def replay(
    engine: Engine,
    connection: str,
    *,
    since: datetime | None = None,
    dead_letters: bool = False,
) -> int:
    """Queue ``connection``'s items again; returns how many were queued."""
    now = utcnow()
    period = [outbox.c.destination == connection]
    if since is not None:
        period.append(outbox.c.created_at >= since)
    with transaction(engine) as conn:
        if dead_letters:
            result = conn.execute(
                update(outbox)
                .where(*period, outbox.c.status == "dead")
                .values(
                    status="pending",
                    attempts=0,
                    due_at=now,
                    finished_at=None,
                    claimed_until=None,
                )
            )
            return result.rowcount or 0
        finished = conn.execute(
            select(outbox)
            .where(
                *period,
                or_(
                    outbox.c.status == "dead",
                    and_(
                        outbox.c.status == "delivered",
                        or_(
                            outbox.c.last_error.is_(None),
                            ~outbox.c.last_error.startswith(SUPERSEDED),
                        ),
                    ),
                ),
            )
            .order_by(outbox.c.id)
        ).all()
        copies = [
            {
                "destination": row.destination,
                "route": row.route,
                "contact_id": row.contact_id,
                "kind": row.kind,
                "purpose": row.purpose,
                "item": _renamed(row.item),
                "created_at": now,
                "due_at": now,
                "status": "pending",
                "attempts": 0,
            }
            for row in finished
        ]
        if copies:
            conn.execute(insert(outbox), copies)
        return len(copies)


def _renamed(item: str) -> str:
    change = _CHANGE.validate_json(item)
    base = change.item_id.split(":replay:")[0]
    fresh = change.model_copy(update={"item_id": f"{base}:replay:{uuid.uuid4().hex[:12]}"})
    return fresh.model_dump_json()
