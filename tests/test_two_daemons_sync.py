"""Two ``spokehub serve`` on one PostgreSQL store pull a scheduled source: every page is
pulled once, by one daemon at a time; when the daemon pulling is killed, the other takes
the source over (at once, seeing that the holder's process on this host is gone; else
once the lease expires) and resumes from the last committed page, and the run records
show the killed run and the resumed one."""

from __future__ import annotations

import threading
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml
from sqlalchemy import Engine, func, select

from spokehub.store import create_store_engine
from spokehub.store.tables import inbox, sync_leases, sync_runs
from spokehub.sync.runs import ABANDONED

from .daemon import ADMIN, Daemon, free_port, wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ROWS = 3000


@pytest.fixture
def source_url(pg_server: str):
    """A schema holding the customers table the source reads, as a libpq URL."""
    base = pg_server.replace("postgresql+psycopg://", "postgresql://")
    schema = f"shop_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(
            f'CREATE TABLE "{schema}".customers (id int PRIMARY KEY, email text NOT NULL, '
            "first_name text, updated_at timestamptz NOT NULL)"
        )
        conn.execute(
            f"INSERT INTO \"{schema}\".customers SELECT n, 'c' || n || '@example.com', "
            "'Name' || n, timestamptz '2026-01-01 00:00+00' + n * interval '1 second' "
            f"FROM generate_series(1, {ROWS}) AS n"
        )
    sep = "&" if "?" in base else "?"
    yield f"{base}{sep}options=-csearch_path%3D{schema}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def paced_project(
    directory: Path, store: str, source_url: str, port: int, schedule: int, **server: Any
) -> Path:
    """A project pulling the customers table from ``source_url`` every ``schedule``
    seconds, 50 rows a page; ``server`` adds to its server settings."""
    customers = {
        "name": "customers",
        # pg_sleep paces the read (about 3 s for the table), so that a daemon can be
        # stopped or killed in the middle.
        "query": "SELECT *, pg_sleep(0.001) AS pace FROM customers",
        "kind": "person",
        "cursor": "updated_at",
        "primary_key": ["id"],
        "identifiers": {"email": "email"},
        "ignore": ["pace"],
        "page_size": 50,
    }
    shop = {
        "kind": "source",
        "spoke": "postgres",
        "schedule": schedule,
        "config": {"url": source_url, "streams": [customers]},
    }
    path = directory / "spokehub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": store},
                "server": {"host": "127.0.0.1", "port": port, "admin_token": ADMIN, **server},
                "connections": {"shop": shop},
            }
        )
    )
    return path


def inboxed(engine: Engine) -> int:
    """How many records the store's inbox holds."""
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(inbox)).scalar_one()


def test_two_daemons_pull_each_page_once_and_take_over_from_a_killed_one(
    pg_schema_url, source_url, tmp_path
):
    ports = [free_port(), free_port()]
    config = paced_project(tmp_path, pg_schema_url, source_url, ports[0], 1, sync_lease_seconds=3)
    daemons = [Daemon(config, port, plugins="postgres") for port in ports]
    threads = [threading.Thread(target=d.start) for d in daemons]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine = create_store_engine(pg_schema_url)

    def holder() -> str | None:
        with engine.connect() as conn:
            return conn.execute(select(sync_leases.c.holder)).scalar()

    try:
        assert all(d.proc is not None and d.proc.poll() is None for d in daemons)
        wait_until(lambda: 500 <= inboxed(engine) < ROWS and holder() is not None, 60)
        pulling = holder()
        assert pulling is not None, "no daemon is pulling"
        pid = int(pulling.split(":")[1])
        [killed] = [d for d in daemons if d.proc is not None and d.proc.pid == pid]
        [survivor] = [d for d in daemons if d is not killed]
        killed.kill(whole=True)

        wait_until(lambda: inboxed(engine) >= ROWS, 90)
        assert inboxed(engine) == ROWS
        listed = survivor.admin("/v1/syncs", connection="shop").json()
    finally:
        codes = [d.stop() for d in daemons if d.proc is not None and d.proc.poll() is None]
    assert codes == [0]

    with engine.connect() as conn:
        runs = conn.execute(select(sync_runs).order_by(sync_runs.c.started_at)).all()
    engine.dispose()
    # Each page once: what the runs committed adds up to the table, exactly.
    assert sum(r.records for r in runs) == ROWS
    # One run at a time: each started after the one before it had finished (a killed run
    # is closed at its last commit).
    for before, after in pairwise(runs):
        assert before.finished_at is not None and before.finished_at <= after.started_at
    [dead] = [r for r in runs if r.status == "interrupted"]
    assert dead.error == ABANDONED and dead.holder == pulling and 0 < dead.records < ROWS
    resumed = [r for r in runs if r.started_at > dead.started_at and r.records]
    assert resumed and resumed[0].holder != pulling and resumed[0].status == "succeeded"
    assert {r["status"] for r in listed} >= {"interrupted", "succeeded"}
