"""Pulling from sources on their schedule, with checkpoints.

A run of one stream calls the source spoke's ``read(stream, state)`` and commits the
records it yields to the inbox together with the checkpoint that follows them, in one
transaction per checkpoint; a run that stops (crash, error, shutdown) resumes from the
last committed checkpoint and never skips or repeats a committed record.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, select

from spokehub_contracts import RejectedRecord, Source, SourceRecord, StateCheckpoint, utcnow

from ..config import Project
from ..http_runtime import prepare_vendor_http
from ..ingest import Accepted, write_messages_in
from ..ingest.keys import record_message_id
from ..logs import get_logger
from ..registry import Registry
from ..store.driver_sql import dialect_insert, transaction
from ..store.tables import quarantine, source_state

log = get_logger("spokehub.sync")

#: Records buffered before a commit when a source yields no checkpoint for a while.
_FLUSH_EVERY = 500


@dataclass
class SyncStats:
    """What one run of one connection did."""

    connection: str
    records: int = 0
    checkpoints: int = 0
    streams: int = 0
    rejected: int = 0


def load_state(conn: Connection, connection: str, stream: str) -> dict[str, Any] | None:
    """The saved position of ``stream`` of ``connection``, or ``None`` for a first run."""
    row = conn.execute(
        select(source_state.c.state).where(
            source_state.c.connection == connection, source_state.c.stream == stream
        )
    ).first()
    return dict(row[0]) if row is not None else None


def save_state(
    conn: Connection, connection: str, stream: str, state: dict[str, Any], now: datetime
) -> None:
    values = {"connection": connection, "stream": stream, "state": state, "updated_at": now}
    stmt = dialect_insert(conn, source_state).values(**values)
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["connection", "stream"],
            set_={"state": stmt.excluded.state, "updated_at": stmt.excluded.updated_at},
        )
    )


def _accepted(record: SourceRecord) -> Accepted:
    # Keyed by content: re-reading an unchanged record is a duplicate; a changed one is new.
    return Accepted(record_message_id(record), None, record.model_dump_json().encode("utf-8"))


def _quarantined(connection: str, rejected: RejectedRecord, now: datetime) -> dict[str, Any]:
    body = {"stream": rejected.stream, "location": rejected.location, "raw": rejected.raw}
    return {
        "inbox_id": None,
        "connection": connection,
        "kind": "source_row",
        "body": orjson.dumps(body).decode(),
        "stage": "source",
        "field": rejected.field[:256],
        "rule": f"{rejected.location}: {rejected.rule}",
        "created_at": now,
    }


async def sync_connection(
    engine: Engine,
    project: Project,
    registry: Registry,
    connection: str,
    *,
    dedup_window: float | None = None,
    stop: asyncio.Event | None = None,
) -> SyncStats:
    """Pull every stream of one source connection once, from its saved state.

    :param dedup_window: seconds a record's content key counts as seen (default the
        project's ``server.dedup_window_hours``).
    """
    if dedup_window is None:
        dedup_window = project.server.dedup_window_hours * 3600.0
    conn_cfg = project.connections[connection]
    if conn_cfg.kind != "source" or conn_cfg.spoke is None:
        raise ValueError(f"{connection!r} is not a source connection with a spoke")
    prepare_vendor_http()
    registered = registry.sources[conn_cfg.spoke]
    config = project.spoke_configs.get(connection) or registered.cls.Config.model_validate(
        conn_cfg.config
    )
    spoke: Source = registered.cls(config, connection=connection)
    stats = SyncStats(connection)
    try:
        for stream in await spoke.streams():
            stats.streams += 1
            await _sync_stream(engine, spoke, connection, stream.name, stats, dedup_window, stop)
            if stop is not None and stop.is_set():
                break
    finally:
        await spoke.aclose()
    return stats


async def _sync_stream(
    engine: Engine,
    spoke: Source,
    connection: str,
    stream: str,
    stats: SyncStats,
    dedup_window: float,
    stop: asyncio.Event | None,
) -> None:
    with transaction(engine, readonly=True) as conn:
        state = load_state(conn, connection, stream)
    pending: list[Accepted] = []
    rejected: list[RejectedRecord] = []

    def commit(checkpoint: StateCheckpoint | None) -> None:
        now = utcnow()
        with transaction(engine) as conn:
            if pending:
                write_messages_in(
                    conn, connection, pending, dedup_window=dedup_window, kind="record", now=now
                )
            if rejected:
                # Rows the source could not map: kept with their reason, beside the
                # checkpoint that moves past them, so nothing read is lost.
                conn.execute(
                    quarantine.insert(), [_quarantined(connection, r, now) for r in rejected]
                )
            if checkpoint is not None:
                save_state(conn, connection, checkpoint.stream, dict(checkpoint.state), now)
        stats.records += len(pending)
        stats.rejected += len(rejected)
        pending.clear()
        rejected.clear()

    async for item in spoke.read(stream, state):
        if isinstance(item, RejectedRecord):
            rejected.append(item)
        elif isinstance(item, StateCheckpoint):
            await asyncio.to_thread(commit, item)
            stats.checkpoints += 1
            if stop is not None and stop.is_set():
                return
        else:
            pending.append(_accepted(item))
            if len(pending) >= _FLUSH_EVERY:
                # Without a checkpoint a crash re-reads these; content keys make the
                # re-read a duplicate rather than a second copy.
                await asyncio.to_thread(commit, None)
    if pending or rejected:
        await asyncio.to_thread(commit, None)


class Scheduler:
    """Runs each source connection with a ``schedule`` every ``schedule`` seconds."""

    def __init__(self, engine: Engine, project: Project, registry: Registry) -> None:
        self.engine = engine
        self.project = project
        self.registry = registry

    def scheduled(self) -> dict[str, float]:
        return {
            name: conn.schedule
            for name, conn in self.project.sources().items()
            if conn.schedule is not None
            and conn.spoke is not None
            and conn.spoke in self.registry.sources
        }

    async def run(self, stop: asyncio.Event) -> None:
        """Pull every scheduled connection on its period until ``stop`` is set."""
        schedule = self.scheduled()
        if not schedule:
            await stop.wait()
            return
        loop = asyncio.get_running_loop()
        due = dict.fromkeys(schedule, loop.time())
        while not stop.is_set():
            now = loop.time()
            for name, period in schedule.items():
                if due[name] > now or stop.is_set():
                    continue
                try:
                    stats = await sync_connection(
                        self.engine, self.project, self.registry, name, stop=stop
                    )
                    log.info("sync finished", connection=name, records=stats.records)
                except Exception as exc:  # one failing source must not stop the others
                    log.error("sync failed", connection=name, error=type(exc).__name__)
                due[name] = loop.time() + period
            wait = max(0.05, min(due.values()) - loop.time())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=wait)
