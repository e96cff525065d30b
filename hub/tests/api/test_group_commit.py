"""Group commit on SQLite: concurrent requests share transactions, each is answered once,
only after the commit that holds its rows, and a failed commit answers every request of
its group with an error."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from spokehub.ingest import IngestSettings, check_messages
from spokehub.ingest.group import GroupWriter
from spokehub.store.tables import inbox, message_ids

WINDOW = 3600.0


def accepted(prefix: str, n: int, start: int = 0):
    batch = [
        {"type": "track", "userId": f"u{i % 3}", "event": "E", "messageId": f"{prefix}-{i}"}
        for i in range(start, start + n)
    ]
    return check_messages("batch", {"batch": batch}, "2026-01-01T00:00:00Z", IngestSettings())


def count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


async def test_concurrent_requests_are_each_stored_and_answered_once(sqlite_engine):
    writer = GroupWriter(sqlite_engine)
    requests = [accepted(f"r{n}", 40) for n in range(30)]
    results = await asyncio.gather(
        *(writer.write("web", msgs, dedup_window=WINDOW) for msgs in requests)
    )
    assert [(r.stored, r.duplicates) for r in results] == [(40, 0)] * 30
    assert count(sqlite_engine, inbox) == 1200
    assert count(sqlite_engine, message_ids) == 1200
    # Requests that arrived while a transaction was open went into the next one together.
    assert 1 <= writer.groups < 30


async def test_a_message_id_repeated_across_requests_of_one_group_is_stored_once(
    sqlite_engine,
):
    writer = GroupWriter(sqlite_engine)
    first, second = accepted("same", 10), accepted("same", 10, start=5)
    a, b = await asyncio.gather(
        writer.write("web", first, dedup_window=WINDOW),
        writer.write("web", second, dedup_window=WINDOW),
    )
    assert (a.stored, a.duplicates) == (10, 0)
    assert (b.stored, b.duplicates) == (5, 5)
    assert count(sqlite_engine, inbox) == 15
    # Another source's identical messageIds are its own.
    c = await writer.write("app", accepted("same", 10), dedup_window=WINDOW)
    assert c.stored == 10


async def test_the_answer_waits_for_the_commit(sqlite_engine):
    writer = GroupWriter(sqlite_engine)
    committed = []
    event.listen(sqlite_engine, "commit", lambda _conn: committed.append(True))
    result = await writer.write("web", accepted("c", 5), dedup_window=WINDOW)
    assert committed  # answered only once the transaction committed
    assert result.stored == 5
    assert count(sqlite_engine, inbox) == 5


async def test_a_failed_commit_answers_every_request_of_the_group_with_an_error(sqlite_engine):
    writer = GroupWriter(sqlite_engine)
    started = threading.Event()
    release = threading.Event()
    failing = threading.Event()

    def on_commit(_conn):
        if not started.is_set():
            # Hold the first transaction open so the others queue up behind it.
            started.set()
            release.wait(5)
        elif failing.is_set():
            raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    event.listen(sqlite_engine, "commit", on_commit)
    first = asyncio.ensure_future(writer.write("web", accepted("first", 3), dedup_window=WINDOW))
    await asyncio.to_thread(started.wait, 5)
    failing.set()
    others = [
        asyncio.ensure_future(writer.write("web", accepted(f"g{n}", 3), dedup_window=WINDOW))
        for n in range(5)
    ]
    await asyncio.sleep(0.05)
    release.set()
    assert (await first).stored == 3  # committed before the store began to fail
    outcomes = await asyncio.gather(*others, return_exceptions=True)
    assert len(outcomes) == 5
    assert all(isinstance(o, OperationalError) for o in outcomes)
    assert count(sqlite_engine, inbox) == 3
    # The writer goes on once the store works again.
    failing.clear()
    ok = await writer.write("web", accepted("after", 3), dedup_window=WINDOW)
    assert ok.stored == 3
    event.remove(sqlite_engine, "commit", on_commit)


async def test_one_failing_request_does_not_sink_the_rest_of_its_group(sqlite_engine, monkeypatch):
    from spokehub.ingest import group as group_module

    real = group_module.write_requests_in
    poison = accepted("poison", 2)

    def flaky(conn, requests, *, now=None):
        if any(rows[1] is poison for rows in requests):
            raise ValueError("bad request")
        return real(conn, requests, now=now)

    monkeypatch.setattr(group_module, "write_requests_in", flaky)
    writer = GroupWriter(sqlite_engine)
    outcomes = await asyncio.gather(
        writer.write("web", accepted("ok1", 4), dedup_window=WINDOW),
        writer.write("web", poison, dedup_window=WINDOW),
        writer.write("web", accepted("ok2", 4), dedup_window=WINDOW),
        return_exceptions=True,
    )
    assert outcomes[0].stored == 4
    assert isinstance(outcomes[1], ValueError)
    assert outcomes[2].stored == 4
    assert count(sqlite_engine, inbox) == 8


@pytest.mark.parametrize("urgent_first", [True, False])
def test_process_gate_lets_a_background_writer_in_only_when_no_urgent_one_waits(
    tmp_path, urgent_first
):
    from spokehub.store.engine import ProcessGate

    path = str(tmp_path / "hub.db")
    api, pipeline = ProcessGate(path), ProcessGate(path)
    pipeline.max_wait = 0.3 if urgent_first else 5.0
    order: list[str] = []
    if urgent_first:
        api.announce()
    started = time.monotonic()
    pipeline.wait_quiet()
    waited = time.monotonic() - started
    with pipeline.turn():
        order.append("background")
    if urgent_first:
        # Deferred to the announced urgent writer, but only for max_wait.
        assert 0.25 <= waited < 3
        api.withdraw()
    else:
        assert waited < 0.25
    assert order == ["background"]
    for gate in (api, pipeline):
        gate.close()


def test_a_request_being_read_holds_back_background_writers_of_other_processes(tmp_path):
    from spokehub.store.engine import ProcessGate, WriterGate

    path = str(tmp_path / "hub.db")
    api, pipeline = WriterGate(path), ProcessGate(path)
    pipeline.max_wait = 0.3
    with api.ahead():
        started = time.monotonic()
        pipeline.wait_quiet()
        assert time.monotonic() - started >= 0.25  # deferred until max_wait
    started = time.monotonic()
    pipeline.wait_quiet()  # answered: nothing holds it back
    assert time.monotonic() - started < 0.25
    pipeline.close()
    assert api.process_gate is not None
    api.process_gate.close()
