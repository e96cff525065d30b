"""The SQLite writers' gate: every write transaction takes a turn, requests go first, and
a background writer is never starved into "database is locked"."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import OperationalError

from spokehub.store.gate import gate_of, write_turn
from spokehub.store.tables import source_state


def put(conn, key: str) -> None:
    conn.execute(
        source_state.insert().values(
            connection=key, stream="s", state={}, updated_at=datetime.now(UTC)
        )
    )


def rows(engine: Engine) -> int:
    with engine.connect().execution_options(readonly=True) as conn, conn.begin():
        return conn.execute(select(func.count()).select_from(source_state)).scalar_one()


def test_a_write_transaction_holds_the_turn_until_it_commits_or_rolls_back(sqlite_engine):
    gate = gate_of(sqlite_engine)
    with sqlite_engine.begin() as conn:
        put(conn, "a")
        assert gate.held_here()
    assert not gate.held_here()
    with pytest.raises(RuntimeError), sqlite_engine.begin() as conn:
        put(conn, "b")
        assert gate.held_here()
        raise RuntimeError("the caller changed its mind")
    assert not gate.held_here()
    # Reads take no turn.
    with sqlite_engine.connect().execution_options(readonly=True) as conn, conn.begin():
        assert not gate.held_here()
    assert rows(sqlite_engine) == 1


def test_an_explicit_turn_is_not_queued_for_again_by_its_own_transaction(sqlite_engine):
    done = threading.Event()

    def write() -> None:
        with write_turn(sqlite_engine, urgent=True), sqlite_engine.begin() as conn:
            put(conn, "x")
        with write_turn(sqlite_engine, urgent=False):
            for key in ("y", "z"):  # two transactions in one turn
                with sqlite_engine.begin() as conn:
                    put(conn, key)
        done.set()

    worker = threading.Thread(target=write, daemon=True)
    worker.start()
    worker.join(20)
    assert done.is_set(), "a thread waited for the turn it already held"
    assert rows(sqlite_engine) == 3


def test_a_background_writer_defers_to_requests_but_is_never_starved(sqlite_engine):
    """Requests write back to back, handing the turn from one to the next. A background
    writer with no turn of its own used to wait in SQLite's busy handler and lose the
    lock every time until its busy timeout; now it waits at most ``max_defer``."""

    @event.listens_for(sqlite_engine, "connect")
    def short_busy_timeout(dbapi_conn, _record) -> None:
        dbapi_conn.execute("PRAGMA busy_timeout=2000")

    sqlite_engine.dispose()  # new connections get the short timeout
    gate = gate_of(sqlite_engine)
    gate.max_defer = 0.2
    stop = threading.Event()
    requests = 0

    def request_stream() -> None:
        nonlocal requests
        with gate.ahead():  # like the API: announced from the moment requests are read
            while not stop.is_set():
                with write_turn(sqlite_engine, urgent=True), sqlite_engine.begin() as conn:
                    put(conn, f"r{requests}")
                    time.sleep(0.05)  # a request's rows take a moment to write
                requests += 1

    streams = [threading.Thread(target=request_stream, daemon=True) for _ in range(2)]
    for stream in streams:
        stream.start()
    try:
        while requests < 4:
            time.sleep(0.01)
        outcome: list[BaseException | None] = []

        def background() -> None:
            try:
                with sqlite_engine.begin() as conn:
                    put(conn, "background")
                outcome.append(None)
            except OperationalError as exc:
                outcome.append(exc)

        writer = threading.Thread(target=background, daemon=True)
        writer.start()
        writer.join(15)
        finished_during_requests = not stop.is_set()
    finally:
        stop.set()
        for stream in streams:
            stream.join(10)
    assert outcome == [None]
    assert finished_during_requests
    with sqlite_engine.connect().execution_options(readonly=True) as conn, conn.begin():
        assert (
            conn.execute(
                select(func.count())
                .select_from(source_state)
                .where(source_state.c.connection == "background")
            ).scalar_one()
            == 1
        )


def test_urgent_writers_go_before_a_waiting_background_writer(tmp_path):
    from spokehub.store.gate import WriterGate

    gate = WriterGate()  # in-process order only
    gate.max_defer = 5.0
    order: list[str] = []
    first = gate.acquire(urgent=True)
    assert first is not None

    def take(name: str, urgent: bool) -> None:
        release = gate.acquire(urgent=urgent)
        order.append(name)
        assert release is not None
        release()

    background = threading.Thread(target=take, args=("background", False))
    background.start()
    time.sleep(0.05)
    request = threading.Thread(target=take, args=("request", True))
    request.start()
    time.sleep(0.05)
    first()
    for thread in (background, request):
        thread.join(10)
    assert order == ["request", "background"]
