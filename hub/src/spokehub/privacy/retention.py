"""Retention: what the data path keeps is deleted once it is past its window.

Processed inbox rows, finished outbox rows (delivered or suppressed), dead letters,
quarantined records and the messageIds of the de-duplication window all hold raw
e-mails and phones, and without this they grow for ever. The daemon prunes them in
small batches, each its own short transaction with a pause after it, so ingestion's
writes (which go first on SQLite) are never held up for more than a batch.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from ..config import RetentionSettings
from ..logs import get_logger
from ..store.driver_sql import cursor, transaction, utcnow

log = get_logger("spokehub.retention")


@dataclass(frozen=True)
class Rule:
    """One class of row: its table, which rows are finished, and the column their age is
    measured by."""

    name: str
    table: str
    where: str
    age_column: str
    key: str = "id"


RULES = {
    "inbox": Rule("inbox", "inbox", "status <> 'pending'", "processed_at"),
    "outbox": Rule("outbox", "outbox", "status IN ('delivered', 'suppressed')", "finished_at"),
    "dead_letters": Rule("dead_letters", "outbox", "status = 'dead'", "finished_at"),
    "quarantine": Rule("quarantine", "quarantine", "1 = 1", "created_at"),
    "message_ids": Rule(
        "message_ids", "message_ids", "1 = 1", "received_at", key="connection, message_id"
    ),
}


def windows(settings: RetentionSettings, dedup_window_hours: float) -> dict[str, float | None]:
    """Each rule's window in seconds (``None``: kept for ever)."""

    def hours(h: float | None) -> float | None:
        return None if h is None else h * 3600.0

    def days(d: float | None) -> float | None:
        return None if d is None else d * 86400.0

    return {
        "inbox": hours(settings.inbox_hours),
        "outbox": hours(settings.outbox_hours),
        "dead_letters": days(settings.dead_letter_days),
        "quarantine": days(settings.quarantine_days),
        # A messageId outside the window is a new message anyway: nothing reads it again.
        "message_ids": dedup_window_hours * 3600.0,
    }


def prune_batch(engine: Engine, rule: Rule, cutoff: datetime, limit: int) -> int:
    """Delete at most ``limit`` rows of ``rule`` older than ``cutoff``, in one short
    transaction; returns how many went."""
    with transaction(engine) as conn:
        cur = cursor(conn)
        return cur.run(
            f"DELETE FROM {rule.table} WHERE ({rule.key}) IN ("
            f"SELECT {rule.key} FROM {rule.table} WHERE {rule.where} "
            f"AND {rule.age_column} < ? LIMIT {int(limit)})",
            (cur.driver.stamp(cutoff),),
        )


async def prune(
    engine: Engine,
    settings: RetentionSettings,
    dedup_window_hours: float,
    *,
    now: datetime | None = None,
    counted: Callable[[str, int], None] = lambda _rule, _n: None,
    stop: asyncio.Event | None = None,
) -> dict[str, int]:
    """One round over every rule, batch by batch; returns rows deleted per rule.

    :param counted: told after each batch (the metrics).
    """
    now = now or utcnow()
    pruned: dict[str, int] = {}
    for name, window in windows(settings, dedup_window_hours).items():
        if window is None:
            continue
        rule, cutoff = RULES[name], now - timedelta(seconds=window)
        while stop is None or not stop.is_set():
            n = await asyncio.to_thread(prune_batch, engine, rule, cutoff, settings.batch_size)
            if n:
                pruned[name] = pruned.get(name, 0) + n
                counted(name, n)
            if n < settings.batch_size:
                break
            await asyncio.sleep(settings.pause_ms / 1000.0)
    if pruned:
        log.info("retention pruned", **pruned)
    return pruned
