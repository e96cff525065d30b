"""The contracts' conformance kit, run against both spokes: the whole suite as a checklist,
and the single checks on a file with a bad line in it."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from spokehub_contracts import (
    Delivered,
    Forget,
    Identifier,
    Person,
    RejectedRecord,
    SourceRecord,
    StateCheckpoint,
    UpsertPerson,
)
from spokehub_contracts.testing import SpokeConformance, check_source
from spokehub_files import FilesDestination, FilesSource

PEOPLE = "email,first_name,plan\n" + "".join(
    f"person{n}@example.com,Name{n},{'gold' if n % 2 else 'silver'}\n" for n in range(1, 24)
)
# Line 10 holds an address that is not one: the row is rejected, the read goes on.
PEOPLE_WITH_A_BAD_LINE = PEOPLE.replace("person9@example.com", "not-an-address")
SOURCE_CONFIG: dict[str, Any] = {
    "streams": [
        {
            "name": "people",
            "path": "people.csv",
            "kind": "person",
            "identifiers": {"email": "email"},
        },
        {"name": "signups", "path": "signups.jsonl", "kind": "event"},
    ],
    "checkpoint_every": 4,
}


@pytest.fixture(autouse=True)
def files(workdir: Path) -> Path:
    (workdir / "people.csv").write_text(PEOPLE_WITH_A_BAD_LINE)
    events = [{"type": "track", "event": "Signed Up", "userId": f"u{n}"} for n in range(7)]
    (workdir / "signups.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    return workdir


class TestFilesSourceConformance(SpokeConformance):
    spoke = FilesSource
    config = SOURCE_CONFIG
    config_schema_file = "files_source_config.json"

    def future_state(self, stream: str, state: Mapping[str, Any]) -> Mapping[str, Any] | None:
        """Not for files: an offset past a file's end means the file was replaced, and the
        source reads it again from the start (see FilesSource)."""
        return None


class TestFilesDestinationConformance(SpokeConformance):
    spoke = FilesDestination
    config = {"path": "out.jsonl"}
    config_schema_file = "files_destination_config.json"


async def test_source_conforms_with_a_bad_line() -> None:
    config = {**SOURCE_CONFIG, "streams": SOURCE_CONFIG["streams"][:1]}
    items = await check_source(FilesSource, config)
    [rejected] = [i for i in items if isinstance(i, RejectedRecord)]
    assert rejected.location == "people.csv:10"
    assert rejected.field == "email"
    assert len([i for i in items if isinstance(i, SourceRecord)]) == 22
    assert isinstance(items[-1], StateCheckpoint)


async def test_destination_conforms(workdir: Path) -> None:
    from spokehub_contracts.testing import check_destination

    ada = Identifier(type="email", value="ada@example.com")
    batch = [
        UpsertPerson(item_id="1", identifiers=(ada,), person=Person(first_name="Ada")),
        Forget(item_id="2", identifiers=(ada,)),
    ]
    outcomes = await check_destination(FilesDestination, {"path": "out.jsonl"}, batch)
    assert outcomes == [
        Delivered(item_id="1", external_id="out.jsonl:1"),
        Delivered(item_id="2"),
    ]
