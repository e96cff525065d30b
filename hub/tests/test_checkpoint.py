"""The background WAL checkpointer keeps the log small and never loses a commit."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from spokehub.store import checkpoint, create_store_engine

PAGE = 4096


def _wal_pages(db: Path) -> int:
    """The log file's size in pages: its high-water mark, as SQLite reuses the file."""
    return db.with_name(db.name + "-wal").stat().st_size // PAGE


def _write(engine, commits: int) -> None:  # type: ignore[no-untyped-def]
    row = {"v": "x" * 2000}
    for _ in range(commits):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [row] * 50)
        time.sleep(0.002)  # a steady stream, as a daemon sees it


def test_commits_are_checkpointed_in_the_background(tmp_path: Path) -> None:
    db = tmp_path / "store.db"
    engine = create_store_engine(f"sqlite:///{db}")
    checkpointer = checkpoint.of(engine)
    assert checkpointer is not None
    checkpointer.restart_pages = 1000
    with engine.begin() as conn:
        assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == (
            checkpoint.SAFETY_NET_PAGES
        )
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    # About 6,000 pages in all: with no checkpoint below the safety net the log would
    # hold every one of them.
    _write(engine, 240)
    assert checkpointer.checkpoints > 0
    assert _wal_pages(db) < 3000
    with sqlite3.connect(db) as probe:
        assert probe.execute("SELECT count(*) FROM t").fetchone()[0] == 240 * 50
    engine.dispose()
    del engine


def test_without_the_checkpointer_the_log_grows_to_the_safety_net(tmp_path: Path) -> None:
    """The control: the same writes with the background thread stopped keep the log."""
    db = tmp_path / "store.db"
    engine = create_store_engine(f"sqlite:///{db}")
    checkpointer = checkpoint.of(engine)
    assert checkpointer is not None
    checkpointer.stop()
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    _write(engine, 240)
    assert _wal_pages(db) >= 5000
    engine.dispose()


def test_memory_databases_get_no_checkpointer() -> None:
    engine = create_store_engine("sqlite://")
    assert checkpoint.of(engine) is None
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY)"))
    engine.dispose()
