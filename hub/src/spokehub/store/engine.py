"""Engine creation with the settings each backend needs to be a durable queue store."""

from __future__ import annotations

import contextlib
import os
import threading
import time
import weakref
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy import create_engine as _sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from . import checkpoint


def normalize_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return make_url(url).get_backend_name() == "sqlite"


def is_postgres(engine_or_url: Engine | str) -> bool:
    url = engine_or_url if isinstance(engine_or_url, str) else str(engine_or_url.url)
    return make_url(url).get_backend_name() == "postgresql"


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets readers (API, CLI) run beside the one writer; NORMAL sync is durable in WAL
    # mode across process crashes, which is what an acknowledged write needs. The
    # busy timeout turns writer contention into waiting instead of "database is locked".
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    # Room for the hot index pages of a large store (identity lookups and upserts touch
    # pages all over the identifier and edge indexes: 64 MiB, allocated as used), and
    # sorts and temporary indexes kept in memory.
    cur.execute("PRAGMA cache_size=-65536")
    cur.execute("PRAGMA temp_store=MEMORY")
    # Checkpoints run in the background (see :mod:`spokehub.store.checkpoint`); the
    # automatic one stays as a safety net.
    cur.execute(f"PRAGMA wal_autocheckpoint={checkpoint.SAFETY_NET_PAGES}")
    cur.close()


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite in WAL mode, or PostgreSQL through psycopg 3."""
    url = normalize_url(url)
    if is_sqlite(url):
        # The stdlib driver's own transaction handling fights SQLAlchemy's; let SQLAlchemy
        # issue BEGIN itself (IMMEDIATE, so a writer takes the lock up front).
        if ":memory:" in url or url.rstrip("/").endswith("sqlite:"):
            kwargs.setdefault("poolclass", StaticPool)
        engine = _sa_create_engine(
            url,
            connect_args={"check_same_thread": False, "isolation_level": None},
            **kwargs,
        )
        event.listen(engine, "connect", _sqlite_pragmas)
        database = make_url(url).database
        if database and database != ":memory:" and not database.startswith("file:"):
            checkpoint.attach(engine, database)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the lock up front so two writers never deadlock on upgrade;
            # read-only work (API reads) asks for a deferred transaction.
            readonly = conn.get_execution_options().get("readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return _sa_create_engine(url, **kwargs)


class WriterGate:
    """One SQLite writer at a time within this process, answering requests first.

    SQLite has a single writer; a second one waits in SQLite's busy handler, which sleeps
    in growing steps (up to 100 ms), so an HTTP request that has to commit can sit behind
    a background batch for far longer than the batch takes. Writers of one process queue
    here instead and are woken the moment the lock is free; ``urgent`` writers (a client
    waiting for its answer) go before background work (pipeline batches, sync runs),
    which only starts while no urgent writer is waiting.

    With ``path`` (a database file) the same order holds between processes (the daemon's
    API and its pipeline process), through two lock files beside the database: see
    :class:`ProcessGate`.
    """

    def __init__(self, path: str | None = None) -> None:
        self._cond = threading.Condition()
        self._busy = False
        self._urgent = 0
        self._announced = 0
        self.process_gate = ProcessGate.open(path) if path else None

    @contextlib.contextmanager
    def hold(self, *, urgent: bool) -> Iterator[None]:
        shared = self.process_gate
        if shared is not None and not urgent:
            shared.wait_quiet()
        with self._cond:
            if urgent:
                self._urgent += 1
                self._announced += 1
                if self._announced == 1 and shared is not None:
                    shared.announce()
            try:
                while self._busy or (not urgent and self._urgent):
                    self._cond.wait()
            finally:
                if urgent:
                    self._urgent -= 1
            self._busy = True
        try:
            if shared is None:
                yield
            else:
                with shared.turn():
                    yield
        finally:
            with self._cond:
                self._busy = False
                if urgent:
                    self._announced -= 1
                    if self._announced == 0 and shared is not None:
                        shared.withdraw()
                self._cond.notify_all()

    @contextlib.contextmanager
    def ahead(self) -> Iterator[None]:
        """An urgent writer is on its way (a request being read and checked): background
        writers of other processes hold back as if it were already waiting, so they do
        not slip into the moment between two of its transactions."""
        shared = self.process_gate
        with self._cond:
            self._announced += 1
            if self._announced == 1 and shared is not None:
                shared.announce()
        try:
            yield
        finally:
            with self._cond:
                self._announced -= 1
                if self._announced == 0 and shared is not None:
                    shared.withdraw()


class ProcessGate:
    """The writers' order between processes on one SQLite file, with ``flock``.

    ``<db>-writer`` is held exclusively for a whole write transaction, so a waiting
    writer is woken by the kernel the moment the previous one commits (SQLite's busy
    handler would sleep up to 100 ms at a time, and lose the lock to a writer that asks
    again at once). ``<db>-urgent`` is held shared by every process with an urgent writer
    waiting or writing; a background writer starts only once it can lock that file
    exclusively (no urgent writer anywhere), or after :attr:`max_wait` seconds, so
    sustained ingestion delays background work but never stops it. The kernel drops the
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

    def wait_quiet(self) -> None:
        """Until no process has an urgent writer (or :attr:`max_wait` has passed)."""
        fcntl = self._fcntl
        deadline = time.monotonic() + self.max_wait
        while True:
            try:
                fcntl.flock(self._probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    return
                time.sleep(self.poll)
                continue
            fcntl.flock(self._probe, fcntl.LOCK_UN)
            return

    @contextlib.contextmanager
    def turn(self) -> Iterator[None]:
        fcntl = self._fcntl
        fcntl.flock(self._turn, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(self._turn, fcntl.LOCK_UN)

    def close(self) -> None:
        for fd in (self._turn, self._urgent, self._probe):
            with contextlib.suppress(OSError):
                os.close(fd)


_GATES: weakref.WeakKeyDictionary[Engine, WriterGate] = weakref.WeakKeyDictionary()
_GATES_LOCK = threading.Lock()


def write_turn(engine: Engine, *, urgent: bool) -> contextlib.AbstractContextManager[None]:
    """Wait for this process's turn to write to ``engine`` (SQLite; a no-op on PostgreSQL,
    where writers do not exclude each other). Wrap the whole write transaction in it."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _gate(engine).hold(urgent=urgent)


def urgent_write_ahead(engine: Engine) -> contextlib.AbstractContextManager[None]:
    """Around a request that will write to ``engine`` (SQLite): from the moment it is
    read, background writers of other processes defer to it (see
    :meth:`WriterGate.ahead`). A no-op on PostgreSQL."""
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _gate(engine).ahead()


def _gate(engine: Engine) -> WriterGate:
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
