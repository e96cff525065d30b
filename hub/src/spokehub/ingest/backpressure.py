"""Backpressure: ingestion pauses while the pipeline is too far behind or the disk fills.

Acknowledging faster than the pipeline processes only moves the queue onto disk: thirty
seconds of load once left 1.08 million pending rows (1.7 GB) that took minutes to drain.
While more inbox rows wait for the pipeline than the high-water mark
(``server.backpressure.max_pending``), or a SQLite store's disk has less free space than
its floor (``min_free_disk_mb``), ingestion answers 503 with ``Retry-After``; the
Segment and RudderStack SDKs keep the events and send them again after that delay.

The check costs a clock read per request. The backlog is counted in a worker thread at
most every ``check_interval_ms``, and the count stops at the high-water mark (a range of
at most that many index entries, however long the backlog); the rows this process stores
in between are added to the last count, so a burst is seen before the next one. While
ingestion is paused, a request waits for a fresh count rather than being refused on an
old one, so ingestion resumes as soon as the pipeline has caught up.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable

from sqlalchemy import Engine

from ..logs import get_logger
from ..store.driver_sql import cursor, transaction
from .errors import IngestError

log = get_logger("spokehub.ingest")

#: Why ingestion is paused, as ``code`` of the 503 answer and label of the gauge.
BACKLOG_FULL = "backlog_full"
DISK_FULL = "disk_full"


class Backpressure:
    """Whether ingestion should pause now, for one app (see :meth:`check`).

    :param engine: the store whose inbox backlog (and, for a SQLite file, whose disk) is
        watched.
    :param max_pending: pending inbox rows above which ingestion pauses (``None``: no
        limit).
    :param min_free_bytes: free bytes on a SQLite store's disk under which ingestion
        pauses (``None``: no floor; ignored for PostgreSQL, whose disk is the server's).
    :param retry_after: seconds a refused client is asked to wait.
    :param interval: seconds between two counts of the backlog, at least.
    :param clock: seconds, monotonic (injected by tests).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        max_pending: int | None,
        min_free_bytes: int | None,
        retry_after: int,
        interval: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.max_pending = max_pending
        self.directory = _store_directory(engine)
        self.min_free_bytes = min_free_bytes if self.directory is not None else None
        self.retry_after = retry_after
        self.interval = interval
        self.clock = clock
        #: The last count of pending rows (at most ``max_pending + 1``) plus the rows
        #: this process stored since.
        self.pending = 0
        #: Free bytes on the store's disk at the last look (SQLite file stores).
        self.free_bytes: int | None = None
        #: Why ingestion is paused now (:data:`BACKLOG_FULL`, :data:`DISK_FULL`), or None.
        self.paused: str | None = None
        self._counted_at = -float("inf")
        self._added = 0  # rows :meth:`stored` was told of, all told
        self._lock = threading.Lock()
        self._counting: asyncio.Future[None] | None = None
        self._paused_logged_at = -float("inf")
        self._failure_logged_at = -float("inf")

    @property
    def enabled(self) -> bool:
        """Whether any limit is set."""
        return self.max_pending is not None or self.min_free_bytes is not None

    async def check(self) -> None:
        """Refuse a request while ingestion is paused; await it before the request's body
        is read.

        Figures older than the check interval are counted again: in the background while
        ingestion runs (the request goes on), before answering while it is paused (a
        refusal rests on a fresh count, so the pipeline catching up is seen at once).

        :raises IngestError: 503 with ``Retry-After``, naming the reason.
        """
        if not self.enabled:
            return
        if self.clock() - self._counted_at >= self.interval:
            counting = self._count_soon()
            if self.paused is not None:
                await asyncio.shield(counting)
        reason = self.paused
        if reason is None:
            return
        headers = {"Retry-After": str(self.retry_after)}
        if reason == BACKLOG_FULL:
            raise IngestError(
                503,
                BACKLOG_FULL,
                f"more than {self.max_pending} events wait for processing;"
                f" retry in {self.retry_after} s",
                headers,
            )
        raise IngestError(
            503,
            DISK_FULL,
            f"the store's disk is nearly full; retry in {self.retry_after} s",
            headers,
        )

    def stored(self, rows: int) -> None:
        """``rows`` more inbox rows are pending (committed by this process)."""
        if rows and self.max_pending is not None:
            with self._lock:
                self.pending += rows
                self._added += rows
                self._judge()

    def count(self) -> None:
        """Count the backlog and look at the disk now (in the calling thread)."""
        with self._lock:
            added = self._added
        pending = self._pending_rows() if self.max_pending is not None else 0
        free = shutil.disk_usage(self.directory).free if self.min_free_bytes is not None else None
        with self._lock:
            # Rows stored while counting may or may not be in the count: rather counted
            # twice until the next count than not at all.
            self.pending = pending + self._added - added
            self.free_bytes = free
            self._judge()

    # -- internals --------------------------------------------------------------------

    def _count_soon(self) -> asyncio.Future[None]:
        # The count in progress, or a new one in a worker thread: one at a time.
        counting = self._counting
        if counting is None or counting.done():
            loop = asyncio.get_running_loop()
            counting = self._counting = loop.run_in_executor(None, self._count_in_thread)
        return counting

    def _count_in_thread(self) -> None:
        try:
            self.count()
        except Exception as exc:  # the store is busy or down: keep the last figures
            # At most a line a minute while it stays down (counts come every interval).
            if self.clock() - self._failure_logged_at >= 60.0:
                self._failure_logged_at = self.clock()
                log.warning("backlog not counted", error=type(exc).__name__)
        finally:
            self._counted_at = self.clock()

    def _pending_rows(self) -> int:
        assert self.max_pending is not None
        # A range of the (status, id) index, cut at the mark: the cost does not grow with
        # the backlog.
        with transaction(self.engine, readonly=True) as conn:
            found = cursor(conn).rows(
                "SELECT count(*) FROM (SELECT 1 FROM inbox WHERE status = 'pending'"
                " LIMIT ?) AS pending",
                (self.max_pending + 1,),
            )
        return int(found[0][0])

    def _judge(self) -> None:
        # With ``_lock`` held.
        was = self.paused
        free, floor = self.free_bytes, self.min_free_bytes
        if free is not None and floor is not None and free < floor:
            self.paused = DISK_FULL
        elif self.max_pending is not None and self.pending > self.max_pending:
            self.paused = BACKLOG_FULL
        else:
            self.paused = None
        if self.paused == was:
            return
        # Under a flood ingestion pauses and resumes every few seconds: the gauge in
        # /metrics follows each change, the log says it at most once a minute.
        if self.paused is not None and self.clock() - self._paused_logged_at >= 60.0:
            self._paused_logged_at = self.clock()
            log.warning("ingestion paused", reason=self.paused, retry_after=self.retry_after)
        else:
            event = "ingestion paused" if self.paused else "ingestion resumed"
            log.debug(event, reason=self.paused or was)


def _store_directory(engine: Engine) -> str | None:
    # The directory of a SQLite database file; None for PostgreSQL or an in-memory store.
    if engine.dialect.name != "sqlite":
        return None
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    with contextlib.suppress(OSError):
        return os.path.dirname(os.path.abspath(database))
    return None
