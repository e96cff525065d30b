"""Engine creation with the settings each backend needs to be a durable queue store."""

from __future__ import annotations

import json
import os
from typing import Any

import orjson
from sqlalchemy import Engine, event
from sqlalchemy import create_engine as _sa_create_engine
from sqlalchemy.engine import make_url
from sqlalchemy.pool import StaticPool

from . import checkpoint
from .gate import ProcessGate, WriterGate, gate_of, urgent_write_ahead, write_turn

__all__ = [
    "ProcessGate",
    "WriterGate",
    "create_store_engine",
    "is_postgres",
    "is_sqlite",
    "normalize_url",
    "urgent_write_ahead",
    "write_turn",
]

#: Where a write transaction keeps what ends its writer's turn (on the pooled connection).
_TURN = "spokehub.writer_turn"


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
    # Deleted rows are overwritten with zeros, free pages included: an erased person's
    # e-mail must not linger in the file's unused space (docs/privacy.md).
    cur.execute("PRAGMA secure_delete=ON")
    # Checkpoints run in the background (see :mod:`spokehub.store.checkpoint`); the
    # automatic one stays as a safety net.
    cur.execute(f"PRAGMA wal_autocheckpoint={checkpoint.SAFETY_NET_PAGES}")
    cur.close()


def json_text(value: Any) -> str:
    """JSON columns' text: orjson, several times faster than the standard library, which
    the pipeline would otherwise spend much of its time in; what orjson refuses (an
    integer beyond 64 bits) is written by the standard library as before."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value)


def _create_private(path: str) -> None:
    """Create a missing SQLite file readable by its owner only (0600).

    The store holds personal data. SQLite would create the file with the process's
    umask (usually 0644); it creates the WAL and shared-memory files with the main
    file's permissions, so they follow. An existing file is left as its owner set it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except (FileExistsError, FileNotFoundError):
        # There already, or its folder is missing (SQLite reports that when it opens).
        return
    os.close(fd)


def create_store_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``: SQLite in WAL mode, or PostgreSQL through psycopg 3."""
    url = normalize_url(url)
    kwargs.setdefault("json_serializer", json_text)
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
            _create_private(database)
            checkpoint.attach(engine, database)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            # Writers take the lock up front so two writers never deadlock on upgrade;
            # read-only work (API reads) asks for a deferred transaction. A writer first
            # takes its turn at the gate (see :mod:`spokehub.store.gate`).
            if conn.get_execution_options().get("readonly", False):
                conn.exec_driver_sql("BEGIN")
                return
            release = gate_of(engine).acquire(urgent=False)
            try:
                conn.exec_driver_sql("BEGIN IMMEDIATE")
            except BaseException:
                if release is not None:
                    release()
                raise
            if release is not None:
                conn.connection.info[_TURN] = release

        _end_turns_with_transactions(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return _sa_create_engine(url, **kwargs)


def _end_turns_with_transactions(engine: Engine) -> None:
    """Give a write transaction's turn back once its COMMIT or ROLLBACK has run.

    SQLAlchemy's ``commit`` and ``rollback`` events fire before the statement, when the
    database is still locked; the next writer would only meet SQLite's busy handler. So
    the turn ends in the dialect's own commit and rollback of this engine. A connection
    that goes back to the pool or is thrown away ends any turn left on it.
    """
    dialect = engine.dialect

    def ending(step: Any) -> Any:
        def run(dbapi_connection: Any) -> None:
            try:
                step(dbapi_connection)
            finally:
                _end_turn(_info(dbapi_connection))

        return run

    dialect.do_commit = ending(dialect.do_commit)  # type: ignore[method-assign]
    dialect.do_rollback = ending(dialect.do_rollback)  # type: ignore[method-assign]

    @event.listens_for(engine, "checkin")
    def _checkin(_dbapi_connection: Any, record: Any) -> None:
        _end_turn(record.info)

    @event.listens_for(engine, "invalidate")
    def _invalidate(_dbapi_connection: Any, record: Any, _exc: Any) -> None:
        _end_turn(record.info)


def _info(dbapi_connection: Any) -> dict[str, Any] | None:
    # A pooled connection has its pool entry's info; the ad-hoc wrapper SQLAlchemy uses
    # while it first sets a connection up has none (and raises rather than say so).
    try:
        return dbapi_connection.info  # type: ignore[no-any-return]
    except (AttributeError, NotImplementedError):
        return None


def _end_turn(info: dict[str, Any] | None) -> None:
    release = info.pop(_TURN, None) if info else None
    if release is not None:
        release()
