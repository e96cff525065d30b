"""WAL checkpoints off the writer's path (SQLite).

By default SQLite checkpoints inside the ``COMMIT`` that pushes the write-ahead log past
1,000 pages: that commit copies the log back into the database file and syncs it, so an
HTTP request or a pipeline batch that happens to cross the line waits for all of it. A
large batch (identity resolution touching index pages all over the store) crosses it on
every commit.

Here every pooled connection turns automatic checkpoints down to a safety net
(:data:`SAFETY_NET_PAGES`, reached only if this thread cannot keep up or is not running)
and a daemon thread per database file runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own
connection shortly after commits. A passive checkpoint never blocks the writer or
readers; once it has copied the whole log, SQLite's next writer starts the log from the
beginning again. Under a constant stream of commits a passive checkpoint never quite
catches up, so once the log passes :data:`RESTART_PAGES` the thread asks for a
``RESTART`` checkpoint, which makes the next writer wait only for the frames the passive
runs have not copied yet, and the log starts over. Durability is unchanged: a commit
is durable once it is in the log (``synchronous=NORMAL`` in WAL mode), and a crash during
a checkpoint is recovered by SQLite like any other.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from typing import Any

#: The automatic checkpoint each pooled connection keeps as a fallback, in pages.
SAFETY_NET_PAGES = 20_000

#: How long after a commit the checkpointer waits, gathering further commits, before it
#: copies the log (seconds); and how often it looks anyway.
SETTLE_SECONDS = 0.05

#: Log size (pages, 4 KiB each) beyond which the thread makes the log start over.
RESTART_PAGES = 16_000
IDLE_SECONDS = 2.0


class WalCheckpointer:
    """Runs passive checkpoints of one SQLite database file in a background thread.

    :meth:`kick` is cheap and safe to call from any thread (after every commit); the
    thread starts on the first kick and stops when :meth:`stop` is called or the object
    that owns it is garbage-collected.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._start_lock = threading.Lock()
        self.restart_pages = RESTART_PAGES
        self.checkpoints = 0  # checkpoints run, for tests and status

    def kick(self) -> None:
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="sqlite-checkpoint", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)

    def _run(self) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return  # the pooled connections' own automatic checkpoint still applies
        try:
            # A RESTART holds new writers back while it waits for the current one and for
            # readers of the old log: give up soon and try again after a later commit
            # rather than stall requests behind a long read.
            conn.execute("PRAGMA busy_timeout=250")
            while not self._stopping.is_set():
                woken = self._wake.wait(IDLE_SECONDS)
                if self._stopping.is_set():
                    break
                if woken:
                    self._wake.clear()
                    self._stopping.wait(SETTLE_SECONDS)
                try:
                    _busy, log, _done = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                    if log > self.restart_pages:
                        conn.execute("PRAGMA wal_checkpoint(RESTART)").fetchone()
                    self.checkpoints += 1
                except sqlite3.Error:
                    pass  # busy or the file went away: try again on the next commit
        finally:
            conn.close()


def attach(engine: Any, path: str) -> WalCheckpointer:
    """Give ``engine`` (a file-backed SQLite engine) a checkpointer that follows its
    commits and stops when the engine is disposed of or collected."""
    from sqlalchemy import event

    checkpointer = WalCheckpointer(path)
    event.listen(engine, "commit", lambda _conn: checkpointer.kick())
    weakref.finalize(engine, checkpointer.stop)
    _ATTACHED[engine] = checkpointer
    return checkpointer


def of(engine: Any) -> WalCheckpointer | None:
    """The checkpointer attached to ``engine``, if it has one."""
    return _ATTACHED.get(engine)


_ATTACHED: weakref.WeakKeyDictionary[Any, WalCheckpointer] = weakref.WeakKeyDictionary()
