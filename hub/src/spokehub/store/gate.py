"""The order of SQLite writers: one at a time, requests first, nobody starved.

SQLite has a single writer; a second one waits in SQLite's busy handler, which sleeps in
growing steps (up to 100 ms) and loses the lock to any writer that asks again at once. So
under sustained ingestion a writer left to the busy handler could wait until its busy
timeout and fail with "database is locked", while the writers queued here passed the lock
between them. Every SQLite write transaction therefore takes its turn here: the engine's
``begin`` event waits for it and the end of the transaction gives it back (see
:func:`spokehub.store.engine.create_store_engine`); :func:`write_turn` takes it explicitly
around a transaction, with a priority.

- ``urgent`` writers (a client waiting for its answer) go first;
- background writers (pipeline batches, sync runs, delivery lanes, CLI commands) start
  while no urgent writer waits, or once they have deferred long enough: then they are
  *due* and go next, in their own process and in every other (an urgent writer about
  to take the turn lets a due background writer of another process go first), so
  sustained ingestion slows background work but never stops it;
- *fair share*: with a database file, a background writer's consecutive transactions
  make one *run*: while writers contend (the run began by deferring to requests, or by
  waiting for another process's turn), its process keeps the turn between two of them
  for :attr:`WriterGate.linger` (the pipeline's next batch comes within it), until the
  run has lasted :attr:`WriterGate.run_budget` (a writer alone keeps nothing). "Long
  enough" to defer is then a quarter as long as that run (at least
  :attr:`WriterGate.min_defer`, at most :attr:`WriterGate.max_defer`; the first turn,
  with nothing to go by, defers the most). Under sustained ingestion the writer
  therefore alternates: a run of pipeline batches (50 ms), then the requests that
  arrived meanwhile, committed by ingestion's group writer in one large group (or two,
  for at least a quarter of the run). The pipeline holds the writer about 70 % of the
  time and keeps more than half of its rate alone; a request waits at most about a run
  longer; acknowledging slows to what the rest of the writer's time allows, which is the
  point: a backlog the pipeline cannot work off is not near real time. Batch by batch (a
  batch, then a group, then a batch), deferring half of each batch, the pipeline kept
  0.3-0.45 of its rate: each batch waited for a group whose size the clients'
  concurrency set, not the batch's length, and every batch paid the hand-over between
  the processes. Work that arrives faster than the pipeline's share is the backpressure
  mark's to refuse, not the gate's;
- a thread that holds the turn already (an explicit :func:`write_turn` around
  ``engine.begin()``) is not queued again.

With a database file the same order holds between processes (the daemon's API and its
pipeline process) through three lock files beside the database: :class:`ProcessGate`.
PostgreSQL writers do not exclude each other; there is no gate there.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from sqlalchemy import Engine

#: Ends a turn taken with :meth:`WriterGate.acquire`.
Release = Callable[[], None]


@dataclass
class GateCounters:
    """What a gate did since it was made: how often writers took turns, and how often and
    how long background writers held back for urgent ones. Counted under the gate's lock;
    read them for tests and metrics.
    """

    #: Turns taken by urgent writers (a client waiting).
    urgent_turns: int = 0
    #: Turns taken by background writers.
    background_turns: int = 0
    #: Times an urgent writer was announced ahead of its transaction
    #: (:meth:`WriterGate.ahead`).
    announcements: int = 0
    #: Background turns that waited for an urgent writer of this process first.
    deferrals: int = 0
    #: Background turns that waited for an urgent writer of another process first
    #: (:meth:`ProcessGate.wait_quiet` found one announced).
    waits_for_other_processes: int = 0
    #: Background turns that stopped deferring after ``max_defer`` and went next anyway.
    overdue: int = 0
    #: Urgent turns that first let a due background writer of another process go.
    made_way: int = 0
    #: Background turns that continued the run of the one before (the turn kept
    #: between them, see :attr:`WriterGate.run_budget`).
    continued: int = 0
    #: Seconds background writers spent holding back for urgent ones, all told.
    deferred_seconds: float = 0.0


class WriterGate:
    """One SQLite writer at a time within this process, answering requests first.

    Writers of one process queue here and are woken the moment the turn is free; with
    ``path`` (a database file) the turn also holds :class:`ProcessGate`'s lock.
    """

    #: Longest a background writer defers to urgent ones before it goes next regardless.
    max_defer = 1.0
    #: Shortest: a background writer whose turns are brief still lets a request or two by.
    min_defer = 0.005
    #: How long a background writer defers, as a share of its own previous run.
    defer_share = 0.25
    #: Longest any writer queues here. Past it the writer goes on without a turn and
    #: SQLite's busy handler decides, as it would with no gate: a safety net against a
    #: turn that is never given back (a bug), which would otherwise hang every writer.
    max_queue = 30.0
    #: Longest a background writer's run lasts: with a database file, its consecutive
    #: transactions keep the turn across processes until the run reaches this long.
    run_budget = 0.05
    #: How long a run's turn is kept for the background writer's next transaction.
    linger = 0.01
    #: Seconds the thread that gives kept turns back idles before it ends.
    linger_thread_idle = 2.0

    def __init__(self, path: str | None = None) -> None:
        self._cond = threading.Condition()
        self._owner: int | None = None
        self._urgent = 0  # urgent writers waiting
        self._overdue = 0  # background writers waiting that have deferred long enough
        self._announced = 0  # urgent writers waiting, writing or on their way
        self.process_gate = ProcessGate.open(path) if path else None
        self.counters = GateCounters()
        #: Seconds the last background turn of this process lasted (``None``: none yet).
        self._last_background: float | None = None
        self._kept: contextlib.AbstractContextManager[None] | None = None
        self._kept_until = 0.0
        self._kept_run = 0.0
        self._run_began: float | None = None
        self._run_contended = False
        self._lingerer: threading.Thread | None = None

    def defer_limit(self) -> float:
        """How long a background writer now defers to urgent ones (the fair share)."""
        last = self._last_background
        if last is None:
            return self.max_defer
        return min(self.max_defer, max(self.min_defer, self.defer_share * last))

    @property
    def announced(self) -> int:
        """Urgent writers of this process waiting, writing or announced ahead now."""
        return self._announced

    def held_here(self) -> bool:
        """True when the calling thread holds the turn."""
        return self._owner == threading.get_ident()

    def acquire(self, *, urgent: bool) -> Release | None:
        """Wait for the turn; return what ends it, or ``None`` when no turn was taken
        (the calling thread holds it already, or it waited :attr:`max_queue`)."""
        me = threading.get_ident()
        if self._owner == me:
            return None
        shared = self.process_gate
        held_back = 0.0
        limit = self.defer_limit()
        due = False
        if shared is not None and not urgent and self._kept is None:
            held_back = shared.wait_quiet(limit)
            # Having deferred, it goes next in every process (ProcessGate.make_way).
            due = held_back > 0
        started = time.monotonic()
        overdue = False
        deferred = False
        with self._cond:
            if urgent:
                self._urgent += 1
                self._announce()
            try:
                while True:
                    if self._owner is None and (
                        not self._overdue if urgent else overdue or not self._urgent
                    ):
                        break
                    if not urgent and self._urgent:
                        deferred = True
                    waited = time.monotonic() - started
                    if waited >= self.max_queue:
                        if urgent:
                            self._withdraw()
                        return None
                    if not urgent and not overdue and waited >= limit:
                        overdue = True
                        self._overdue += 1
                        continue
                    self._cond.wait((self.max_queue if urgent or overdue else limit) - waited)
            finally:
                if urgent:
                    self._urgent -= 1
                if overdue:
                    self._overdue -= 1
            self._owner = me
            self._count(urgent, held_back, deferred, overdue, started)
            kept, self._kept = self._kept, None
            if kept is not None:
                if urgent:
                    # A request of this process ends the background writer's run.
                    self._end_run()
                else:
                    self.counters.continued += 1
        if kept is not None:
            turn = kept
        else:
            turn = shared.turn(due=due) if shared is not None else contextlib.nullcontext()
            try:
                if urgent and shared is not None and shared.make_way():
                    with self._cond:
                        self.counters.made_way += 1
                turn.__enter__()
            except BaseException:
                self._end(urgent)
                raise
        began = time.monotonic()
        if not urgent and self._run_began is None:
            self._run_began = began
            # Only a run that met other writers keeps the turn: alone, a kept turn
            # would only delay the next writer (after a lane's poll, a trickle's batch).
            self._run_contended = held_back > 0 or (shared is not None and shared.turn_was_taken)
        ended = False

        def release() -> None:
            nonlocal ended
            if ended:
                return
            ended = True
            now = time.monotonic()
            with self._cond:
                try:
                    run = now - (self._run_began or began)
                    if (
                        not urgent
                        and shared is not None
                        and self._run_contended
                        and run < self.run_budget
                    ):
                        # The run goes on: the next background transaction of this
                        # process continues it without queueing in other processes.
                        self._kept, self._kept_until, self._kept_run = (
                            turn,
                            now + self.linger,
                            run,
                        )
                        self._linger_soon()
                    else:
                        if not urgent:
                            self._kept_run = run
                            self._end_run()
                        turn.__exit__(None, None, None)
                finally:
                    self._end(urgent)

        return release

    @contextlib.contextmanager
    def hold(self, *, urgent: bool) -> Iterator[None]:
        """The turn for the duration of the block (see :meth:`acquire`)."""
        release = self.acquire(urgent=urgent)
        try:
            yield
        finally:
            if release is not None:
                release()

    @contextlib.contextmanager
    def ahead(self) -> Iterator[None]:
        """An urgent writer is on its way (a request being read and checked): background
        writers of other processes hold back as if it were already waiting, so they do
        not slip into the moment between two of its transactions."""
        with self._cond:
            self._announce()
            self.counters.announcements += 1
        try:
            yield
        finally:
            with self._cond:
                self._withdraw()

    def _end_run(self) -> None:
        """The background run is over: its length sets the next deferral."""
        self._last_background = self._kept_run
        self._run_began = None

    def _linger_soon(self) -> None:
        """Give the kept turn back once :attr:`linger` passes without a writer of this
        process taking it (in a thread of its own, started on demand)."""
        self._cond.notify_all()
        if self._lingerer is None:
            self._lingerer = threading.Thread(
                target=self._give_back_kept, name="sqlite-writer-linger", daemon=True
            )
            self._lingerer.start()

    def _give_back_kept(self) -> None:
        with self._cond:
            try:
                idle_since = time.monotonic()
                while True:
                    now = time.monotonic()
                    kept = self._kept
                    if kept is None:
                        if now - idle_since >= self.linger_thread_idle:
                            return
                        self._cond.wait(self.linger_thread_idle)
                        continue
                    idle_since = now
                    if now < self._kept_until:
                        self._cond.wait(self._kept_until - now)
                        continue
                    # Under the lock: a writer of this process must not take the turn
                    # afresh (the same lock file) between the two steps.
                    self._kept = None
                    self._end_run()
                    kept.__exit__(None, None, None)
                    self._cond.notify_all()
            finally:
                self._lingerer = None

    def _end(self, urgent: bool) -> None:
        with self._cond:
            self._owner = None
            if urgent:
                self._withdraw()
            self._cond.notify_all()

    # The three below run with ``_cond`` held.
    def _count(
        self, urgent: bool, held_back: float, deferred: bool, overdue: bool, started: float
    ) -> None:
        counters = self.counters
        if urgent:
            counters.urgent_turns += 1
            return
        counters.background_turns += 1
        if held_back:
            counters.waits_for_other_processes += 1
        if deferred:
            counters.deferrals += 1
        if overdue:
            counters.overdue += 1
        if deferred or overdue:
            held_back += time.monotonic() - started
        counters.deferred_seconds += held_back

    def _announce(self) -> None:
        self._announced += 1
        if self._announced == 1 and self.process_gate is not None:
            self.process_gate.announce()

    def _withdraw(self) -> None:
        self._announced -= 1
        if self._announced == 0 and self.process_gate is not None:
            self.process_gate.withdraw()


class ProcessGate:
    """The writers' order between processes on one SQLite file, with ``flock``.

    ``<db>-writer`` is held exclusively for a whole write transaction, so a waiting
    writer is woken by the kernel the moment the previous one commits (SQLite's busy
    handler would sleep up to 100 ms at a time, and lose the lock to a writer that asks
    again at once). ``<db>-urgent`` is held shared by every process with an urgent writer
    waiting or writing; a background writer starts only once it can lock that file
    exclusively (no urgent writer anywhere), or after :attr:`max_wait` seconds, so
    sustained ingestion delays background work but never stops it. ``<db>-due`` is held
    shared by a background writer that has deferred and waits for the turn: an urgent
    writer lets it go first (:meth:`make_way`). The kernel drops the
    locks of a process that dies. Without ``fcntl`` (Windows) there is no gate and
    SQLite's busy handler alone orders the writers.
    """

    #: Longest a background writer defers to urgent ones before it queues regardless.
    max_wait = 1.0
    #: How often a deferring background writer looks again (seconds).
    poll = 0.002

    def __init__(self, path: str) -> None:
        import fcntl

        self._fcntl = fcntl
        flags = os.O_RDWR | os.O_CREAT
        self._turn = os.open(path + "-writer", flags, 0o600)
        # Two descriptions of the urgent file: a process holds one shared while it has
        # urgent writers and probes with the other, so a probe never converts its own lock.
        self._urgent = os.open(path + "-urgent", flags, 0o600)
        self._probe = os.open(path + "-urgent", flags, 0o600)
        # The same for background writers that have deferred long enough and go next.
        self._due = os.open(path + "-due", flags, 0o600)
        self._due_probe = os.open(path + "-due", flags, 0o600)
        self._closed = False
        #: Whether the last turn taken here had to wait for a writer of another process.
        self.turn_was_taken = False

    @classmethod
    def open(cls, path: str) -> ProcessGate | None:
        try:
            return cls(path)
        except (ImportError, OSError):
            return None

    def announce(self) -> None:
        self._fcntl.flock(self._urgent, self._fcntl.LOCK_SH)

    def withdraw(self) -> None:
        self._fcntl.flock(self._urgent, self._fcntl.LOCK_UN)

    def wait_quiet(self, limit: float | None = None) -> float:
        """Until no process has an urgent writer (or ``limit`` seconds, at most
        :attr:`max_wait`, have passed); the seconds it waited (0.0 when no urgent writer
        was announced)."""
        return self._wait_free(
            self._probe, min(self.max_wait, self.max_wait if limit is None else limit)
        )

    def make_way(self) -> float:
        """Before an urgent writer takes the turn: while a background writer of another
        process is due (it has deferred and now waits for the turn), let it go first, for
        at most :attr:`max_wait` seconds. The seconds it waited (0.0: none was due)."""
        # A due writer holds the file until it has the turn; the turn it then holds lasts
        # longer than a poll, so polling costs the urgent writer nothing.
        return self._wait_free(self._due_probe, self.max_wait)

    def _wait_free(self, probe: int, limit: float) -> float:
        """Until no process holds the lock file open as ``probe`` (or ``limit`` seconds
        passed); the seconds it waited, at least a tick when it waited at all (so the
        caller can tell it did), 0.0 when the file was free."""
        fcntl = self._fcntl
        started = time.monotonic()
        deadline = started + limit
        waited = False
        while True:
            try:
                fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                waited = True
                if time.monotonic() >= deadline:
                    break
                time.sleep(self.poll)
                continue
            fcntl.flock(probe, fcntl.LOCK_UN)
            break
        return max(time.monotonic() - started, 1e-9) if waited else 0.0

    @contextlib.contextmanager
    def turn(self, *, due: bool = False) -> Iterator[None]:
        """The writer's turn. ``due``: a background writer that has deferred long
        enough: until it has the turn, urgent writers of other processes let it go first
        (:meth:`make_way`)."""
        fcntl = self._fcntl
        if due:
            fcntl.flock(self._due, fcntl.LOCK_SH)
        try:
            try:
                fcntl.flock(self._turn, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self.turn_was_taken = False
            except BlockingIOError:
                self.turn_was_taken = True
                fcntl.flock(self._turn, fcntl.LOCK_EX)
        finally:
            if due:
                fcntl.flock(self._due, fcntl.LOCK_UN)
        try:
            yield
        finally:
            # A turn kept past its engine's end: closing the files dropped the lock.
            if not self._closed:
                fcntl.flock(self._turn, fcntl.LOCK_UN)

    def close(self) -> None:
        self._closed = True
        for fd in (self._turn, self._urgent, self._probe, self._due, self._due_probe):
            with contextlib.suppress(OSError):
                os.close(fd)


_GATES: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


def write_turn(engine: Engine, *, urgent: bool) -> contextlib.AbstractContextManager[None]:
    """Wait for this process's turn to write to ``engine`` (SQLite; a no-op on PostgreSQL,
    where writers do not exclude each other). Wrap the whole write transaction in it;
    without it, the transaction takes a background writer's turn when it begins."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return gate_of(engine).hold(urgent=urgent)


def urgent_write_ahead(engine: Engine) -> contextlib.AbstractContextManager[None]:
    """Around a request that will write to ``engine`` (SQLite): from the moment it is
    read, background writers of other processes defer to it (see
    :meth:`WriterGate.ahead`). A no-op on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return gate_of(engine).ahead()


def gate_of(engine: Engine) -> WriterGate:
    """The writers' gate of a SQLite ``engine`` (one per engine)."""
    with _GATES_LOCK:
        gate = _GATES.get(engine)
        if gate is None:
            gate = _GATES[engine] = WriterGate(_database_file(engine))
            if gate.process_gate is not None:
                weakref.finalize(engine, gate.process_gate.close)
    return gate


def _database_file(engine: Engine) -> str | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return database
