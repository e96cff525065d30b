"""Group commit: one thread writes the inbox rows of every request waiting at that moment
in one SQLite transaction, and answers each request once that transaction has committed.

SQLite has one writer and a commit costs the same for 250 rows as for 5,000, so
committing requests one by one makes them queue for the lock while their CPU sits idle.
Here the event loop parses and checks requests while the writer thread commits the
previous group; the driver gives up the GIL while SQLite steps, so parsing and writing
run side by side on two cores. Nothing is acknowledged before the commit that holds it:
a request's future is resolved only after ``COMMIT`` returns, and if the group cannot
commit, each of its requests is written again on its own, so one bad request cannot
sink the others and every request gets its own answer (stored, or the error).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError, OperationalError

from spokehub_contracts import utcnow

from ..logs import get_logger
from ..store.driver_sql import transaction
from .inbox import InboxWrite, RequestRows, write_requests_in
from .messages import Accepted

log = get_logger("spokehub.ingest")

#: Most rows one group transaction takes (the requests after that wait for the next).
MAX_GROUP_ROWS = 20_000
#: Seconds the writer thread waits for work before it ends (it starts again on demand).
IDLE_SECONDS = 5.0
#: Attempts for one transaction that fails on the database (locked, busy).
_ATTEMPTS = 3


@dataclass(eq=False)
class _Request:
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[InboxWrite]
    rows: RequestRows


class GroupWriter:
    """Commits the inbox writes of concurrent requests together (SQLite).

    :meth:`write` is called on an event loop and returns once the request's rows are
    committed; any number of loops and threads may call it.
    """

    def __init__(self, engine: Engine, *, max_rows: int = MAX_GROUP_ROWS) -> None:
        self.engine = engine
        self.max_rows = max_rows
        self._pending: deque[_Request] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self.groups = 0  # transactions committed, for tests and metrics

    async def write(
        self,
        connection: str,
        messages: Sequence[Accepted],
        *,
        dedup_window: float,
        kind: str = "event",
    ) -> InboxWrite:
        """Store ``messages`` as :func:`~spokehub.ingest.write_messages` would; returns
        once the transaction holding them has committed."""
        loop = asyncio.get_running_loop()
        request = _Request(loop, loop.create_future(), (connection, messages, dedup_window, kind))
        with self._cond:
            self._pending.append(request)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="inbox-group-writer", daemon=True
                )
                self._thread.start()
            self._cond.notify()
        # Shielded: a client that hangs up must not cancel a write that may already be
        # in a transaction; it simply gets no answer (and its retry is a duplicate).
        return await asyncio.shield(request.future)

    # -- the writer thread ------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                if not self._pending:
                    self._cond.wait(IDLE_SECONDS)
                if not self._pending:
                    self._thread = None
                    return
                group = [self._pending.popleft()]
                rows = len(group[0].rows[1])
                while self._pending and rows + len(self._pending[0].rows[1]) <= self.max_rows:
                    request = self._pending.popleft()
                    rows += len(request.rows[1])
                    group.append(request)
            self._commit(group)

    def _commit(self, group: list[_Request]) -> None:
        try:
            results = self._transaction(group)
        except Exception as exc:
            if len(group) == 1:
                _settle(group[0], exc)
                return
            log.warning(
                "group write failed; writing its requests one by one",
                requests=len(group),
                error=type(exc).__name__,
            )
            for request in group:
                try:
                    result = self._transaction([request])[0]
                except Exception as exc_one:
                    _settle(request, exc_one)
                else:
                    _settle(request, result)
            return
        for request, result in zip(group, results, strict=True):
            _settle(request, result)

    def _transaction(self, group: list[_Request]) -> list[InboxWrite]:
        for attempt in range(_ATTEMPTS):
            try:
                with transaction(self.engine, urgent=True) as conn:
                    results = write_requests_in(conn, [r.rows for r in group], now=utcnow())
                self.groups += 1
                return results
            except (IntegrityError, OperationalError):
                if attempt == _ATTEMPTS - 1:
                    raise
        raise AssertionError("unreachable")


def _settle(request: _Request, outcome: Any) -> None:
    def settle() -> None:
        if request.future.done():
            return
        if isinstance(outcome, BaseException):
            request.future.set_exception(outcome)
        else:
            request.future.set_result(outcome)

    # A closed loop: nobody is waiting for the answer any more.
    with contextlib.suppress(RuntimeError):
        request.loop.call_soon_threadsafe(settle)
