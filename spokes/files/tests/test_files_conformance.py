"""The contracts' conformance kit, run against both spokes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from spokehub_contracts import (
    Delivered,
    Forget,
    Identifier,
    Person,
    SourceRecord,
    StateCheckpoint,
    UpsertPerson,
)
from spokehub_files import FilesDestination, FilesSource

kit = pytest.importorskip("spokehub_contracts.testing")
if not hasattr(kit, "check_source"):  # pragma: no cover - an older contracts release
    pytest.skip("this spokehub-contracts has no conformance checks", allow_module_level=True)


def test_capabilities_conform() -> None:
    kit.check_capabilities(FilesSource)
    kit.check_capabilities(FilesDestination)


async def test_source_conforms(workdir: Path) -> None:
    rows = [{"type": "track", "event": "Signed Up", "userId": f"u{n}"} for n in range(3)]
    (workdir / "e.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    config: dict[str, Any] = {
        "streams": [{"name": "signups", "path": "e.jsonl", "kind": "event"}],
        "checkpoint_every": 2,
    }
    items = await kit.check_source(FilesSource, config)
    assert [type(i) for i in items] == [SourceRecord] * 2 + [StateCheckpoint] + [
        SourceRecord,
        StateCheckpoint,
    ]


async def test_destination_conforms(workdir: Path) -> None:
    ada = Identifier(type="email", value="ada@example.com")
    batch = [
        UpsertPerson(item_id="1", identifiers=(ada,), person=Person(first_name="Ada")),
        Forget(item_id="2", identifiers=(ada,)),
    ]
    outcomes = await kit.check_destination(FilesDestination, {"path": "out.jsonl"}, batch)
    assert outcomes == [
        Delivered(item_id="1", external_id="out.jsonl:1"),
        Delivered(item_id="2"),
    ]
