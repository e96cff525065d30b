"""SIGTERM to ``spokehub serve`` in the middle of a scheduled pull: the daemon commits the
page it is reading with its checkpoint, exits 0, and the run's record says it was stopped
by SIGTERM after that checkpoint; the next start resumes there and reads the rest once."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from spokehub.store import create_store_engine
from spokehub.store.tables import sync_runs

from .daemon import Daemon, free_port, wait_until
from .test_two_daemons_sync import (  # noqa: F401  (source_url, a fixture)
    ROWS,
    inboxed,
    paced_project,
    source_url,
)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_sigterm_commits_the_last_checkpoint_and_the_record_says_so(
    source_url,  # noqa: F811
    tmp_path,
):
    port = free_port()
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    config = paced_project(tmp_path, store, source_url, port, 3600)
    engine = create_store_engine(store)

    daemon = Daemon(config, port, plugins="postgres").start()
    try:
        wait_until(lambda: inboxed(engine) >= 300, 60)
        assert 300 <= inboxed(engine) < ROWS
    finally:
        code = daemon.stop()
    assert code == 0
    with engine.connect() as conn:
        [stopped] = conn.execute(select(sync_runs)).all()
    assert stopped.status == "interrupted"
    assert stopped.error == f"stopped by SIGTERM after committing checkpoint {stopped.checkpoints}"
    assert stopped.records == stopped.checkpoints * 50 == inboxed(engine)

    again = Daemon(config, port, plugins="postgres").start()
    try:
        wait_until(lambda: inboxed(engine) >= ROWS, 90)
        listed = again.admin("/v1/syncs").json()
    finally:
        assert again.stop() == 0
    assert inboxed(engine) == ROWS
    with engine.connect() as conn:
        runs = conn.execute(select(sync_runs).order_by(sync_runs.c.id)).all()
    engine.dispose()
    assert sum(r.records for r in runs) == ROWS  # the rest once, nothing again
    assert [r["status"] for r in listed][-1] == "interrupted"
    assert runs[1].status in ("succeeded", "interrupted")
