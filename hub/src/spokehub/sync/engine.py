"""One run of a source connection: a lease, a run record per stream, checkpoints.

A run takes the connection's lease (:mod:`.lease`) first, so two hub processes never
pull the same connection at once; then, stream by stream, it calls the spoke's
``read(stream, state)`` and commits the records it yields to the inbox together with
the checkpoint that follows them and the run record's counts, in one transaction per
checkpoint. A run that stops (crash, error, signal) resumes from the last committed
checkpoint and never skips or repeats a committed record.

Asked to stop (SIGTERM), a run finishes the commit it is in, stops at the next
checkpoint (or the next buffered flush) and records itself ``interrupted``, saying which
checkpoint it committed last.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Engine

from spokehub_contracts import RejectedRecord, Source, SourceRecord, StateCheckpoint, redact, utcnow

from ..config import Project
from ..http_runtime import prepare_vendor_http
from ..ingest import Accepted, write_messages_in
from ..ingest.keys import record_message_id
from ..logs import get_logger
from ..registry import Registry
from ..store.driver_sql import transaction
from ..store.tables import quarantine
from . import lease, runs
from .state import load_state, save_state

log = get_logger("spokehub.sync")

#: Records buffered before a commit when a source yields no checkpoint for a while.
_FLUSH_EVERY = 500

#: How long a run's lease lasts unless renewed (seconds); the project's
#: ``server.sync_lease_seconds`` overrides it.
LEASE_SECONDS = 60.0

#: The stream name of a run that failed before it knew the streams (``streams()`` raised).
STREAMS = "(streams)"

#: A full refresh reads everything again and must not have it dropped as already seen.
_NO_DEDUP = 1e-6


@dataclass
class SyncStats:
    """What one run of one connection did (committed figures)."""

    connection: str
    records: int = 0
    checkpoints: int = 0
    streams: int = 0
    rejected: int = 0
    #: Run record ids, one per stream started.
    runs: list[int] = field(default_factory=list)
    #: ``(stream, error)`` for each stream that failed.
    failed: list[tuple[str, str]] = field(default_factory=list)
    #: Why the run stopped before the end, if it did.
    interrupted: str | None = None


#: Called after every commit of a run: stream, and the stream's committed records,
#: rejected rows and checkpoints so far.
Progress = Callable[[str, int, int, int], None]


class _LeaseLost(Exception):
    def __str__(self) -> str:
        return (
            "lost the connection's lease (not renewed in time: the store was unreachable "
            "or too slow); another run may have taken over"
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


def _notes(spoke: Source, stream: str) -> str | None:
    """The source's note on the read for the run record; a failing hook loses the note,
    never the run."""
    try:
        note = spoke.stream_status(stream)
    except Exception:
        return None
    return str(redact(note))[:1000] if note else None


def _error_text(exc: BaseException) -> str:
    return str(redact(f"{type(exc).__name__}: {exc}"))[:2000]


async def sync_connection(
    engine: Engine,
    project: Project,
    registry: Registry,
    connection: str,
    *,
    dedup_window: float | None = None,
    stop: asyncio.Event | None = None,
    stop_reason: Callable[[], str] | None = None,
    full_refresh: bool = False,
    progress: Progress | None = None,
    lease_seconds: float | None = None,
) -> SyncStats:
    """Pull every stream of one source connection once, from its saved state.

    :param dedup_window: seconds a record's content key counts as seen (default the
        project's ``server.dedup_window_hours``).
    :param stop: set to stop the run at its next checkpoint.
    :param stop_reason: says what set ``stop`` (for the run record), e.g. ``"SIGTERM"``.
    :param full_refresh: start every stream from the beginning (no saved state) and
        enter every record again, even one already seen unchanged.
    :param progress: called after every commit (see :data:`Progress`).
    :param lease_seconds: how long the lease lasts unless renewed (default the
        project's ``server.sync_lease_seconds``).
    :raises lease.LeaseHeld: another run of this connection is under way.
    """
    if dedup_window is None:
        dedup_window = project.server.dedup_window_hours * 3600.0
    if full_refresh:
        dedup_window = _NO_DEDUP
    ttl = lease_seconds or project.server.sync_lease_seconds
    conn_cfg = project.connections[connection]
    if conn_cfg.kind != "source" or conn_cfg.spoke is None:
        raise ValueError(f"{connection!r} is not a source connection with a spoke")
    prepare_vendor_http()
    registered = registry.sources[conn_cfg.spoke]
    config = project.spoke_configs.get(connection) or registered.cls.Config.model_validate(
        conn_cfg.config
    )
    holder = lease.new_holder()
    await asyncio.to_thread(lease.acquire, engine, connection, holder, ttl)
    lost = asyncio.Event()
    keeper = asyncio.create_task(_keep(engine, connection, holder, ttl, lost))
    stats = SyncStats(connection)
    run = _Run(
        engine=engine,
        connection=connection,
        holder=holder,
        stats=stats,
        dedup_window=dedup_window,
        full_refresh=full_refresh,
        stop=stop,
        stop_reason=stop_reason,
        lost=lost,
        progress=progress,
    )
    try:
        abandoned = await asyncio.to_thread(_mark_abandoned, engine, connection, holder)
        if abandoned:
            log.warning("sync took over an abandoned run", connection=connection, runs=abandoned)
        spoke: Source = registered.cls(config, connection=connection)
        try:
            try:
                streams = await spoke.streams()
            except Exception as exc:
                # Nothing to pull without the list (a refused credential, an outage):
                # recorded as a failed run of the connection's streams, so it is counted.
                await run.failed_to_list(exc)
                return stats
            for stream in streams:
                if run.stopping():
                    break
                stats.streams += 1
                await run.stream(spoke, stream.name)
                if stats.interrupted is not None:
                    break
        finally:
            await spoke.aclose()
    finally:
        keeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await keeper
        with contextlib.suppress(Exception):  # an expired lease is taken over anyway
            await asyncio.to_thread(lease.release, engine, connection, holder)
    return stats


def _mark_abandoned(engine: Engine, connection: str, holder: str) -> int:
    with transaction(engine) as conn:
        return runs.mark_abandoned(conn, connection, holder)


async def _keep(
    engine: Engine, connection: str, holder: str, ttl: float, lost: asyncio.Event
) -> None:
    """Renew the lease every third of its length until cancelled; set ``lost`` if it
    could not be renewed before it expired."""
    loop = asyncio.get_running_loop()
    renewed = loop.time()
    while True:
        await asyncio.sleep(ttl / 3)
        try:
            held = await asyncio.to_thread(lease.renew, engine, connection, holder, ttl)
        except Exception as exc:  # the store is unreachable for a moment: try again
            log.warning(
                "sync lease renewal failed", connection=connection, error=type(exc).__name__
            )
            held = loop.time() - renewed < ttl
        else:
            renewed = loop.time()
        if not held:
            lost.set()
            return


@dataclass
class _Run:
    engine: Engine
    connection: str
    holder: str
    stats: SyncStats
    dedup_window: float
    full_refresh: bool
    stop: asyncio.Event | None
    stop_reason: Callable[[], str] | None
    lost: asyncio.Event
    progress: Progress | None

    def stopping(self) -> bool:
        return self.lost.is_set() or (self.stop is not None and self.stop.is_set())

    def _why_stopped(self) -> str:
        return self.stop_reason() if self.stop_reason is not None else "a stop request"

    async def failed_to_list(self, exc: Exception) -> None:
        error = _error_text(exc)
        self.stats.failed.append((STREAMS, error))
        log.error("sync failed to list streams", connection=self.connection, error=error)

        def record() -> None:
            now = utcnow()
            with transaction(self.engine) as conn:
                run_id = runs.start(
                    conn,
                    self.connection,
                    STREAMS,
                    self.holder,
                    full_refresh=self.full_refresh,
                    now=now,
                )
                runs.finish(conn, run_id, runs.FAILED, now=now, error=error)
            self.stats.runs.append(run_id)

        with contextlib.suppress(Exception):
            await asyncio.to_thread(record)

    async def stream(self, spoke: Source, stream: str) -> None:
        engine, connection = self.engine, self.connection

        def begin() -> tuple[dict[str, Any] | None, int]:
            with transaction(engine) as conn:
                state = None if self.full_refresh else load_state(conn, connection, stream)
                run_id = runs.start(
                    conn,
                    connection,
                    stream,
                    self.holder,
                    full_refresh=self.full_refresh,
                    now=utcnow(),
                )
            return state, run_id

        state, run_id = await asyncio.to_thread(begin)
        self.stats.runs.append(run_id)
        counts = [0, 0, 0]  # this stream's committed records, rejected, checkpoints
        pending: list[Accepted] = []
        rejected: list[RejectedRecord] = []

        def commit(checkpoint: StateCheckpoint | None) -> None:
            now = utcnow()
            with transaction(engine) as conn:
                if pending:
                    write_messages_in(
                        conn,
                        connection,
                        pending,
                        dedup_window=self.dedup_window,
                        kind="record",
                        now=now,
                    )
                if rejected:
                    # Rows the source could not map: kept with their reason, beside the
                    # checkpoint that moves past them, so nothing read is lost.
                    conn.execute(
                        quarantine.insert(), [_quarantined(connection, r, now) for r in rejected]
                    )
                if checkpoint is not None:
                    save_state(conn, connection, checkpoint.stream, dict(checkpoint.state), now)
                runs.progress(
                    conn,
                    run_id,
                    records=len(pending),
                    rejected=len(rejected),
                    checkpoint=checkpoint is not None,
                    now=now,
                )
            counts[0] += len(pending)
            counts[1] += len(rejected)
            self.stats.records += len(pending)
            self.stats.rejected += len(rejected)
            if checkpoint is not None:
                counts[2] += 1
                self.stats.checkpoints += 1
            pending.clear()
            rejected.clear()
            if self.progress is not None:
                self.progress(stream, counts[0], counts[1], counts[2])

        def end(status: str, error: str | None = None) -> None:
            notes = _notes(spoke, stream)
            with transaction(engine) as conn:
                runs.finish(conn, run_id, status, now=utcnow(), error=error, notes=notes)

        try:
            async for item in spoke.read(stream, state):
                if isinstance(item, RejectedRecord):
                    rejected.append(item)
                elif isinstance(item, StateCheckpoint):
                    await asyncio.to_thread(commit, item)
                    if self.stopping():
                        break
                else:
                    pending.append(_accepted(item))
                    if len(pending) >= _FLUSH_EVERY:
                        # Without a checkpoint a crash re-reads these; content keys make
                        # the re-read a duplicate rather than a second copy.
                        await asyncio.to_thread(commit, None)
                        if self.stopping():
                            break
            else:
                if pending or rejected:
                    await asyncio.to_thread(commit, None)
                await asyncio.to_thread(end, runs.SUCCEEDED)
                return
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                end(runs.INTERRUPTED, "cancelled; the last committed checkpoint stands")
            raise
        except Exception as exc:  # one failing stream must not stop the others
            error = _error_text(exc)
            self.stats.failed.append((stream, error))
            log.error("sync stream failed", connection=connection, stream=stream, error=error)
            with contextlib.suppress(Exception):
                await asyncio.to_thread(end, runs.FAILED, error)
            return
        # Stopped between commits, by request or because the lease was lost.
        if self.lost.is_set():
            error = str(_LeaseLost())
            self.stats.failed.append((stream, error))
            self.stats.interrupted = error
            await asyncio.to_thread(end, runs.FAILED, error)
            return
        where = (
            f"after committing checkpoint {counts[2]}"
            if counts[2]
            else "before its first checkpoint (its records are in; the state did not move)"
        )
        self.stats.interrupted = f"stopped by {self._why_stopped()} {where}"
        await asyncio.to_thread(end, runs.INTERRUPTED, self.stats.interrupted)
