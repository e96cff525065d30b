"""The sync engine: a run record per stream with what it committed, one run per connection
at a time (a lease in the store that a dead process's successor takes over once expired),
and a stopped run that commits its last checkpoint and says so."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select, update

from spokehub.config import validate
from spokehub.registry import Registry
from spokehub.store.tables import inbox, sync_leases
from spokehub.sync import LeaseHeld, lease, load_state, runs, sync_connection
from spokehub_contracts import (
    Identifier,
    Person,
    RejectedRecord,
    Source,
    SourceRecord,
    StateCheckpoint,
    Stream,
    hookimpl,
    utcnow,
)


def _person(n: int) -> SourceRecord:
    return SourceRecord(
        stream="people",
        record_id=str(n),
        identifiers=(Identifier(type="email", value=f"p{n}@example.com"),),
        data=Person(),
    )


class Paged(Source):
    """Ten pages of ten people after its state, a checkpoint after each page; one row per
    run rejected. ``on_page`` runs after each checkpoint is yielded (so once it has been
    committed)."""

    name = "paged-test"
    pages = 10
    on_page: Any = None
    fail_at: int | None = None

    async def streams(self) -> Sequence[Stream]:
        if type(self).fail_at == -1:
            raise PermissionError("401 from the vendor")
        return [
            Stream(name="people", kind="person", incremental=True),
            Stream(name="others", kind="person", incremental=True),
        ]

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        if stream == "others":
            return
        page = (state or {}).get("page", 0)
        yield RejectedRecord(stream=stream, location="row 0", field="email", rule="missing")
        while page < type(self).pages:
            if type(self).fail_at == page:
                raise PermissionError("401 from the vendor")
            for n in range(page * 10, page * 10 + 10):
                yield _person(n)
            page += 1
            yield StateCheckpoint(stream=stream, state={"page": page})
            if type(self).on_page is not None:
                type(self).on_page(page)
            await asyncio.sleep(0)


@hookimpl
def register_sources(register: Any) -> None:
    register(Paged)


@pytest.fixture
def paged() -> Any:
    registry = Registry.load(
        allow=(), extra_plugins=[("paged", SimpleNamespace(register_sources=register_sources))]
    )
    project = validate(
        {"connections": {"src": {"kind": "source", "spoke": "paged-test"}}}, registry
    )
    Paged.pages, Paged.on_page, Paged.fail_at = 10, None, None
    yield SimpleNamespace(registry=registry, project=project)
    Paged.pages, Paged.on_page, Paged.fail_at = 10, None, None


def _runs(engine) -> list[runs.SyncRun]:
    with engine.connect() as conn:
        return list(reversed(runs.recent(conn)))


def _inbox(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(inbox)).scalar_one()


@pytest.mark.asyncio
async def test_each_stream_run_is_recorded_with_what_it_committed(engine, paged):
    stats = await sync_connection(engine, paged.project, paged.registry, "src")
    assert (stats.records, stats.rejected, stats.checkpoints, stats.streams) == (100, 1, 10, 2)
    people, others = _runs(engine)
    assert (people.stream, people.status, people.records, people.rejected, people.checkpoints) == (
        "people",
        "succeeded",
        100,
        1,
        10,
    )
    assert people.finished_at is not None and people.finished_at >= people.started_at
    assert people.last_checkpoint_at is not None and people.error is None
    assert (others.status, others.records) == ("succeeded", 0)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sync_leases)).scalar_one() == 0

    again = await sync_connection(engine, paged.project, paged.registry, "src")
    assert again.records == 0  # resumed past the last page
    full = await sync_connection(engine, paged.project, paged.registry, "src", full_refresh=True)
    assert full.records == 100
    assert _runs(engine)[-2].full_refresh
    assert _inbox(engine) == 200  # a full refresh enters unchanged records again


@pytest.mark.asyncio
async def test_a_failing_stream_is_recorded_failed_and_the_others_still_run(engine, paged):
    Paged.fail_at = 3
    stats = await sync_connection(engine, paged.project, paged.registry, "src")
    assert stats.failed == [("people", "PermissionError: 401 from the vendor")]
    people, others = _runs(engine)
    assert (people.status, people.records, people.checkpoints) == ("failed", 30, 3)
    assert people.error == "PermissionError: 401 from the vendor"
    assert others.status == "succeeded"
    with engine.connect() as conn:
        assert load_state(conn, "src", "people") == {"page": 3}


@pytest.mark.asyncio
async def test_a_stopped_run_commits_its_last_checkpoint_and_says_so(engine, paged):
    stop = asyncio.Event()
    # Set while page 5 is read: the run finishes that page, commits checkpoint 5, stops.
    Paged.on_page = lambda page: stop.set() if page == 4 else None
    stats = await sync_connection(
        engine, paged.project, paged.registry, "src", stop=stop, stop_reason=lambda: "SIGTERM"
    )
    assert stats.interrupted == "stopped by SIGTERM after committing checkpoint 5"
    (people,) = _runs(engine)  # the next stream did not start
    assert (people.status, people.records, people.checkpoints) == ("interrupted", 50, 5)
    assert people.error == stats.interrupted
    with engine.connect() as conn:
        assert load_state(conn, "src", "people") == {"page": 5}
    assert _inbox(engine) == 50

    Paged.on_page = None
    resumed = await sync_connection(engine, paged.project, paged.registry, "src")
    assert resumed.records == 50
    assert _inbox(engine) == 100


@pytest.mark.asyncio
async def test_a_second_run_of_the_same_connection_is_refused_while_one_runs(engine, paged):
    second: asyncio.Task[Any] | None = None

    def start_second(page: int) -> None:
        nonlocal second
        if page == 2:
            second = asyncio.get_running_loop().create_task(
                sync_connection(engine, paged.project, paged.registry, "src")
            )

    Paged.on_page = start_second
    first = await sync_connection(engine, paged.project, paged.registry, "src")
    assert second is not None
    with pytest.raises(LeaseHeld) as held:
        await second
    assert "another run holds it" in str(held.value)
    assert first.records == 100
    assert [r.status for r in _runs(engine)] == ["succeeded", "succeeded"]


@pytest.mark.asyncio
async def test_a_dead_runs_lease_is_taken_over_after_expiry_and_its_record_closed(engine, paged):
    # A process that died mid-run: its run record says running, its lease is held.
    now = utcnow()
    with engine.begin() as conn:
        run_id = runs.start(conn, "src", "people", "dead-host:1:x", full_refresh=False, now=now)
    lease.acquire(engine, "src", "dead-host:1:x", ttl=60)
    with pytest.raises(LeaseHeld):
        await sync_connection(engine, paged.project, paged.registry, "src")

    with engine.begin() as conn:  # its lease expires
        conn.execute(update(sync_leases).values(expires_at=now - timedelta(seconds=1)))
    stats = await sync_connection(engine, paged.project, paged.registry, "src")
    assert stats.records == 100
    dead, *_ = _runs(engine)
    assert dead.id == run_id
    assert dead.status == "interrupted" and dead.finished_at is not None
    assert "stopped without finishing" in (dead.error or "")
    # The dead holder can no longer renew: another run has had it.
    assert not lease.renew(engine, "src", "dead-host:1:x", ttl=60)


def test_a_lease_is_one_holders_until_it_expires(engine):
    lease.acquire(engine, "c", "a", ttl=60)
    lease.acquire(engine, "c", "a", ttl=60)  # its own: renewed
    with pytest.raises(LeaseHeld) as held:
        lease.acquire(engine, "c", "b", ttl=60)
    assert held.value.holder == "a"
    lease.acquire(engine, "other", "b", ttl=60)  # another connection is free
    assert lease.renew(engine, "c", "a", ttl=60)
    lease.release(engine, "c", "b")  # not b's to release
    with pytest.raises(LeaseHeld):
        lease.acquire(engine, "c", "b", ttl=60)
    lease.release(engine, "c", "a")
    lease.acquire(engine, "c", "b", ttl=60)
    assert not lease.renew(engine, "c", "a", ttl=60)


def test_only_one_of_many_racing_holders_gets_the_lease(engine):
    from concurrent.futures import ThreadPoolExecutor

    def take(n: int) -> bool:
        try:
            lease.acquire(engine, "race", f"h{n}", ttl=60)
        except LeaseHeld:
            return False
        return True

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(take, range(16)))
    assert won.count(True) == 1


# -- the command --------------------------------------------------------------------


def _project(tmp_path, store_url: str) -> None:
    (tmp_path / "spokehub.yaml").write_text(
        yaml.safe_dump(
            {
                "store": {"url": store_url},
                "connections": {"src": {"kind": "source", "spoke": "paged-test"}},
            }
        )
    )


@pytest.fixture
def paged_installed(monkeypatch) -> None:
    """The test source, found by the command's registry as if installed."""
    real = Registry.load

    def load(*args: Any, **kwargs: Any) -> Registry:
        extra = list(kwargs.pop("extra_plugins", None) or [])
        extra.append(("paged", SimpleNamespace(register_sources=register_sources)))
        return real(*args, extra_plugins=extra, **kwargs)

    monkeypatch.setattr(Registry, "load", load)
    Paged.pages, Paged.on_page, Paged.fail_at = 10, None, None
    yield
    Paged.pages, Paged.on_page, Paged.fail_at = 10, None, None


def test_sigterm_stops_sync_run_at_a_checkpoint_and_status_shows_it(
    run_cli, tmp_path, paged_installed
):
    _project(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    # The signal arrives while page 4 is read: the run commits that page and stops.
    Paged.on_page = lambda page: os.kill(os.getpid(), signal.SIGTERM) if page == 3 else None
    stopped = run_cli("sync", "run", "src", "--no-progress")
    assert stopped.returncode == 130, stopped.stdout + stopped.stderr
    assert "src: 40 record(s), 4 checkpoint(s)" in stopped.stdout
    assert "stopped by SIGTERM after committing checkpoint 4" in stopped.stderr

    Paged.on_page = None
    shown = run_cli("sync", "status", "--json")
    assert shown.returncode == 0, shown.stderr
    import json

    (run,) = json.loads(shown.stdout)
    assert (run["status"], run["records"], run["checkpoints"]) == ("interrupted", 40, 4)

    resumed = run_cli("sync", "run", "src", "--progress")
    assert resumed.returncode == 0, resumed.stderr
    assert "src: 60 record(s)" in resumed.stdout
    table = run_cli("sync", "status")
    assert "succeeded" in table.stdout and "people" in table.stdout
    history = run_cli("sync", "status", "-n", "10")
    assert "interrupted" in history.stdout and "succeeded" in history.stdout


# -- the API and metrics ------------------------------------------------------------


@pytest.mark.asyncio
async def test_runs_are_listed_by_the_api_and_failures_counted_in_metrics(sqlite_engine, paged):
    from fastapi.testclient import TestClient

    from spokehub.api import create_app
    from spokehub.ingest import IngestSettings

    await sync_connection(sqlite_engine, paged.project, paged.registry, "src")
    Paged.fail_at = 0
    await sync_connection(sqlite_engine, paged.project, paged.registry, "src", full_refresh=True)

    project = validate(
        {
            "server": {"admin_token": "admin-sync-test"},
            "connections": {"src": {"kind": "source", "spoke": "paged-test"}},
        },
        paged.registry,
    )
    app = create_app(project, paged.registry, sqlite_engine, settings=IngestSettings())
    with TestClient(app) as client:
        assert client.get("/v1/syncs").status_code == 401
        auth = {"Authorization": "Bearer admin-sync-test"}
        listed = client.get("/v1/syncs", headers=auth)
        assert listed.status_code == 200
        body = listed.json()
        assert [(r["stream"], r["status"]) for r in body] == [
            ("others", "succeeded"),
            ("people", "failed"),
            ("others", "succeeded"),
            ("people", "succeeded"),
        ]
        assert body[1]["error"] == "PermissionError: 401 from the vendor"
        failed = client.get("/v1/syncs?status=failed&connection=src", headers=auth).json()
        assert [r["id"] for r in failed] == [body[1]["id"]]
        assert client.get("/v1/syncs?status=bogus", headers=auth).status_code == 422
        metrics = client.get("/metrics", headers=auth).text
    assert 'spokehub_sync_runs_total{connection="src",status="failed"} 1.0' in metrics
    assert 'spokehub_sync_runs_total{connection="src",status="succeeded"} 3.0' in metrics


def test_a_lease_of_a_dead_process_on_this_host_is_taken_at_once(engine):
    import socket
    import subprocess
    import sys

    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = f"{socket.gethostname()[:64]}:{int(gone.stdout)}:abcd"
    lease.acquire(engine, "c", dead, ttl=600)
    lease.acquire(engine, "c", "next", ttl=60)  # no wait for the 600 s
    alive = f"{socket.gethostname()[:64]}:1:abcd"  # pid 1 lives
    lease.acquire(engine, "d", alive, ttl=600)
    with pytest.raises(LeaseHeld):
        lease.acquire(engine, "d", "next", ttl=60)
    elsewhere = f"another-host:{int(gone.stdout)}:abcd"
    lease.acquire(engine, "e", elsewhere, ttl=600)
    with pytest.raises(LeaseHeld):
        lease.acquire(engine, "e", "next", ttl=60)


@pytest.mark.asyncio
async def test_a_source_that_cannot_list_its_streams_is_a_failed_run(engine, paged):
    Paged.fail_at = -1
    stats = await sync_connection(engine, paged.project, paged.registry, "src")
    assert stats.failed == [("(streams)", "PermissionError: 401 from the vendor")]
    (run,) = _runs(engine)
    assert (run.stream, run.status, run.error) == (
        "(streams)",
        "failed",
        "PermissionError: 401 from the vendor",
    )
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(sync_leases)).scalar_one() == 0
