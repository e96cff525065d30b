"""Retention: rows past their window go, batch by batch; pending and recent rows stay."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import func, insert, select

from spokehub.config import RetentionSettings
from spokehub.privacy.retention import prune
from spokehub.store.driver_sql import transaction, utcnow
from spokehub.store.tables import inbox, message_ids, outbox, quarantine


def count(engine, table, *where):
    with transaction(engine, readonly=True) as conn:
        return conn.execute(select(func.count()).select_from(table).where(*where)).scalar_one()


def test_rows_past_their_window_are_pruned_in_batches(engine):
    now = utcnow()
    old, recent = now - timedelta(days=40), now - timedelta(minutes=5)
    with transaction(engine) as conn:
        conn.execute(
            insert(inbox),
            [
                {
                    "connection": "web",
                    "kind": "event",
                    "body": "{}",
                    "received_at": when,
                    "processed_at": None if status == "pending" else when,
                    "status": status,
                }
                for when, status in [(old, "processed")] * 25
                + [(old, "pending"), (recent, "processed"), (old, "quarantined")]
            ],
        )
        conn.execute(
            insert(message_ids),
            [{"connection": "web", "message_id": f"m{i}", "received_at": old} for i in range(30)]
            + [{"connection": "web", "message_id": "fresh", "received_at": recent}],
        )
        conn.execute(
            insert(outbox),
            [
                {
                    "destination": "crm",
                    "kind": "event",
                    "item": "{}",
                    "created_at": old,
                    "due_at": old,
                    "status": status,
                    "finished_at": None if status == "pending" else old,
                }
                for status in ("delivered", "suppressed", "dead", "pending")
            ],
        )
        conn.execute(
            insert(quarantine),
            [
                {
                    "connection": "web",
                    "kind": "event",
                    "body": "{}",
                    "stage": "validate",
                    "field": "x",
                    "rule": "r",
                    "created_at": when,
                }
                for when in (old, recent)
            ],
        )
    counted: dict[str, int] = {}

    def note(rule: str, n: int) -> None:
        counted[rule] = counted.get(rule, 0) + n

    settings = RetentionSettings(batch_size=7, pause_ms=0)
    pruned = asyncio.run(prune(engine, settings, dedup_window_hours=24, counted=note))
    assert (
        pruned
        == counted
        == {
            "inbox": 26,
            "outbox": 2,
            "dead_letters": 1,
            "quarantine": 1,
            "message_ids": 30,
        }
    )
    assert count(engine, inbox) == 2  # the pending row and the recent one
    assert count(engine, inbox, inbox.c.status == "pending") == 1
    assert count(engine, message_ids) == 1
    assert count(engine, outbox) == 1 and count(engine, quarantine) == 1
    # Nothing is kept for ever where a window is off.
    off = RetentionSettings(inbox_hours=None, outbox_hours=None, dead_letter_days=None)
    assert asyncio.run(prune(engine, off, dedup_window_hours=24)) == {}
