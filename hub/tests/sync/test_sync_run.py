"""``spokehub sync run``: pulled records enter the inbox with the source's new state in the
same transaction; a rerun reads nothing new; the pipeline builds profiles from them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import yaml
from sqlalchemy import func, select

from spokehub.config import validate
from spokehub.identity.lookup import lookup
from spokehub.registry import Registry
from spokehub.store import create_store_engine
from spokehub.store.tables import inbox, source_state
from spokehub.sync import load_state, sync_connection
from spokehub_contracts import (
    Identifier,
    Person,
    Source,
    SourceRecord,
    StateCheckpoint,
    Stream,
    hookimpl,
)

CSV = "id,email,first_name\n1,ada@example.com,Ada\n2,grace@example.com,Grace\n"


def _write_project(directory: Path, store_url: str) -> None:
    (directory / "people.csv").write_text(CSV)
    (directory / "spokehub.yaml").write_text(
        yaml.safe_dump(
            {
                "store": {"url": store_url},
                "connections": {
                    "shop": {
                        "kind": "source",
                        "spoke": "files",
                        "config": {
                            "streams": [
                                {
                                    "name": "people",
                                    "path": "people.csv",
                                    "kind": "person",
                                    "record_id": "id",
                                    "identifiers": {"email": "email"},
                                }
                            ]
                        },
                    }
                },
            }
        )
    )


def _count(engine, table) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


@pytest.mark.slow
def test_sync_run_then_rerun_then_pipeline(run_cli, store_url, tmp_path):
    _write_project(tmp_path, store_url)
    env = {"SPOKEHUB_PLUGINS": "files"}

    first = run_cli("sync", "run", "shop", env=env)
    assert first.returncode == 0, first.stderr
    assert "shop: 2 record(s)" in first.stdout
    engine = create_store_engine(store_url)
    try:
        assert _count(engine, inbox) == 2
        with engine.connect() as conn:
            state = load_state(conn, "shop", "people")
        assert state is not None  # committed with the records

        again = run_cli("sync", "run", "shop", env=env)
        assert again.returncode == 0, again.stderr
        assert "shop: 0 record(s)" in again.stdout
        assert _count(engine, inbox) == 2

        processed = run_cli("pipeline", "run", "--once", env=env)
        assert processed.returncode == 0, processed.stderr
        assert "processed 2" in processed.stdout
        with engine.connect() as conn:
            ada = lookup(conn, Identifier(type="email", value="ada@example.com"))
            grace = lookup(conn, Identifier(type="email", value="grace@example.com"))
        assert ada is not None and grace is not None and ada != grace
    finally:
        engine.dispose()


def test_an_unknown_connection_is_refused(run_cli, tmp_path):
    _write_project(tmp_path, f"sqlite:///{tmp_path / 'hub.db'}")
    result = run_cli("sync", "run", "nope", env={"SPOKEHUB_PLUGINS": "files"})
    assert result.returncode != 0
    assert "no pull source connection 'nope'" in result.stdout + result.stderr


# -- records and state commit together ----------------------------------------------


def _person(n: int) -> SourceRecord:
    return SourceRecord(
        stream="people",
        record_id=str(n),
        identifiers=(Identifier(type="email", value=f"p{n}@example.com"),),
        data=Person(),
    )


class Flaky(Source):
    """Yields records 1..4 from its state, a checkpoint after each even record, and fails
    after record 3 while ``fail`` is set."""

    name = "flaky-test"
    fail = True

    async def streams(self) -> Sequence[Stream]:
        return [Stream(name="people", kind="person", incremental=True)]

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint]:
        start = (state or {}).get("after", 0)
        for n in range(start + 1, 5):
            yield _person(n)
            if n == 3 and type(self).fail:
                raise ConnectionError("the vendor went away")
            if n % 2 == 0:
                yield StateCheckpoint(stream=stream, state={"after": n})


@hookimpl
def register_sources(register: Any) -> None:
    register(Flaky)


@pytest.mark.asyncio
async def test_a_failed_run_keeps_exactly_what_its_last_checkpoint_covers(engine):
    registry = Registry.load(
        allow=(), extra_plugins=[("flaky", SimpleNamespace(register_sources=register_sources))]
    )
    project = validate(
        {"connections": {"src": {"kind": "source", "spoke": "flaky-test"}}}, registry
    )
    Flaky.fail = True
    failed = await sync_connection(engine, project, registry, "src")
    assert failed.failed == [("people", "ConnectionError: the vendor went away")]
    with engine.connect() as conn:
        assert load_state(conn, "src", "people") == {"after": 2}
    assert _count(engine, inbox) == 2  # record 3 was not committed: no checkpoint covered it

    Flaky.fail = False
    stats = await sync_connection(engine, project, registry, "src")
    assert stats.records == 2  # 3 and 4, resumed from the checkpoint
    with engine.connect() as conn:
        assert load_state(conn, "src", "people") == {"after": 4}
        assert conn.execute(select(func.count()).select_from(source_state)).scalar_one() == 1
    assert _count(engine, inbox) == 4
