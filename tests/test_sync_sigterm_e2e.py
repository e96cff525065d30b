"""SIGTERM to ``spokehub serve`` in the middle of a scheduled pull: the daemon commits the
page it is reading with its checkpoint, exits 0, and the run's record says it was stopped
by SIGTERM after that checkpoint; the next start resumes there and reads the rest once."""

from __future__ import annotations

import pytest
import yaml
from sqlalchemy import func, select

from spokehub.store import create_store_engine
from spokehub.store.tables import inbox, sync_runs

from .daemon import ADMIN, Daemon, free_port, wait_until
from .test_two_daemons_sync import ROWS, source_url  # noqa: F401  (a fixture)

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_sigterm_commits_the_last_checkpoint_and_the_record_says_so(
    source_url,  # noqa: F811
    tmp_path,
):
    port = free_port()
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    config = tmp_path / "spokehub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"url": store},
                "server": {"host": "127.0.0.1", "port": port, "admin_token": ADMIN},
                "connections": {
                    "shop": {
                        "kind": "source",
                        "spoke": "postgres",
                        "schedule": 3600,
                        "config": {
                            "url": source_url,
                            "streams": [
                                {
                                    "name": "customers",
                                    "query": "SELECT *, pg_sleep(0.001) AS pace FROM customers",
                                    "kind": "person",
                                    "cursor": "updated_at",
                                    "primary_key": ["id"],
                                    "identifiers": {"email": "email"},
                                    "ignore": ["pace"],
                                    "page_size": 50,
                                }
                            ],
                        },
                    }
                },
            }
        )
    )
    engine = create_store_engine(store)

    def inboxed() -> int:
        with engine.connect() as conn:
            return conn.execute(select(func.count()).select_from(inbox)).scalar_one()

    daemon = Daemon(config, port, plugins="postgres").start()
    try:
        wait_until(lambda: inboxed() >= 300, 60)
        assert 300 <= inboxed() < ROWS
    finally:
        code = daemon.stop()
    assert code == 0
    with engine.connect() as conn:
        [stopped] = conn.execute(select(sync_runs)).all()
    assert stopped.status == "interrupted"
    assert stopped.error == f"stopped by SIGTERM after committing checkpoint {stopped.checkpoints}"
    assert stopped.records == stopped.checkpoints * 50 == inboxed()

    again = Daemon(config, port, plugins="postgres").start()
    try:
        wait_until(lambda: inboxed() >= ROWS, 90)
        listed = again.admin("/v1/syncs").json()
    finally:
        assert again.stop() == 0
    assert inboxed() == ROWS
    with engine.connect() as conn:
        runs = conn.execute(select(sync_runs).order_by(sync_runs.c.id)).all()
    engine.dispose()
    assert sum(r.records for r in runs) == ROWS  # the rest once, nothing again
    assert [r["status"] for r in listed][-1] == "interrupted"
    assert runs[1].status in ("succeeded", "interrupted")
