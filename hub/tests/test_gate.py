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


def _free(path: str) -> bool:
    """Whether a writer of another process could take the turn of ``path`` now."""
    import fcntl
    import os

    fd = os.open(path + "-writer", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # closing the description drops a lock it took
    return True


def _until(condition, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.005)
    return True


def test_a_background_writer_that_has_deferred_goes_before_requests_of_other_processes(
    tmp_path,
):
    """The fair share across processes: a pipeline batch that has deferred its share
    waits for the turn; the API's next request lets it go first instead of taking the
    turn again the moment it is free."""
    from spokehub.store.gate import ProcessGate, WriterGate

    path = str(tmp_path / "hub.db")
    other, pipeline, api = ProcessGate(path), ProcessGate(path), WriterGate(path)
    order: list[str] = []
    holding = other.turn()
    holding.__enter__()  # a writer of a third process holds the turn

    def background() -> None:
        with pipeline.turn(due=True):
            order.append("background")

    def request() -> None:
        release = api.acquire(urgent=True)
        order.append("request")
        assert release is not None
        release()

    batch = threading.Thread(target=background)
    batch.start()
    probe = ProcessGate(path)
    probe.max_wait = 0.0
    assert _until(lambda: probe.make_way() > 0), "the batch never said it was due"
    answer = threading.Thread(target=request)
    answer.start()
    assert _until(lambda: api.counters.urgent_turns == 1)
    time.sleep(0.2)  # on its way to the turn: it finds the batch due
    holding.__exit__(None, None, None)
    for thread in (batch, answer):
        thread.join(10)
    assert order == ["background", "request"]
    assert api.counters.made_way == 1
    assert probe.make_way() == 0.0  # nobody due any more: a request goes at once
    for gate in (other, pipeline, probe):
        gate.close()
    assert api.process_gate is not None
    api.process_gate.close()


def test_a_background_run_keeps_the_turn_between_its_transactions_then_gives_it_back(
    tmp_path,
):
    """While requests wait, consecutive batches of one background writer hold the turn
    across processes for up to ``run_budget`` (other processes wait once for the whole
    run, not once a batch); a run that ends is given back after ``linger``, with nobody
    to ask."""
    from spokehub.store.gate import ProcessGate, WriterGate

    path = str(tmp_path / "hub.db")
    gate, api = WriterGate(path), ProcessGate(path)
    gate.max_defer = 0.01
    gate.run_budget = 60.0
    gate.linger = 60.0
    # With no request waiting anywhere, a background transaction keeps nothing.
    release = gate.acquire(urgent=False)
    assert release is not None
    release()
    assert _free(path)
    api.announce()  # a request of another process waits from now on
    release = gate.acquire(urgent=False)
    assert release is not None
    release()
    assert not _free(path), "the run ended with its first transaction"
    release = gate.acquire(urgent=False)  # the next batch continues the run
    assert release is not None
    assert gate.counters.continued == 1
    gate.linger = 0.0
    release()
    assert _until(lambda: _free(path)), "the kept turn was never given back"

    # A run past its budget gives the turn back with its last transaction.
    gate.run_budget = 0.0
    release = gate.acquire(urgent=False)
    assert release is not None
    release()
    assert _free(path)
    # And the next batch defers for its share of that run before it asks again.
    assert gate.defer_limit() == gate.min_defer
    api.close()
    assert gate.process_gate is not None
    gate.process_gate.close()


def test_a_request_of_the_same_process_takes_a_kept_turn_and_ends_the_run(tmp_path):
    from spokehub.store.gate import ProcessGate, WriterGate

    path = str(tmp_path / "hub.db")
    gate, api = WriterGate(path), ProcessGate(path)
    gate.max_defer = 0.01
    gate.run_budget = 60.0
    gate.linger = 60.0
    api.announce()
    release = gate.acquire(urgent=False)
    assert release is not None
    release()
    assert not _free(path)
    release = gate.acquire(urgent=True)
    assert release is not None
    assert not _free(path)  # the request writes in the turn the batch kept
    release()
    assert _free(path)  # and gives it back: a request's turn is never kept
    assert gate.counters.continued == 0
    api.close()
    assert gate.process_gate is not None
    gate.process_gate.close()
