"""The destination: one JSON line per change, durable appends, and erasure."""

from __future__ import annotations

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from spokehub_contracts import (
    Account,
    AudienceEntered,
    AudienceExited,
    Delivered,
    Event,
    Forget,
    Identifier,
    Membership,
    MergeContacts,
    Person,
    TrackEvent,
    TransientError,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
)
from spokehub_files import FilesDestination, FilesDestinationConfig

ADA = Identifier(type="email", value="ada@example.com")
BOB = Identifier(type="email", value="bob@example.com")


def destination(path: str = "out/crm.jsonl") -> FilesDestination:
    return FilesDestination(FilesDestinationConfig(path=path), connection="crm_out")


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def person(item_id: str, who: Identifier, contact: str, name: str) -> UpsertPerson:
    return UpsertPerson(
        item_id=item_id, contact_id=contact, identifiers=(who,), person=Person(first_name=name)
    )


def every_kind() -> list[Any]:
    event = Event(type="track", event="Order Completed", userId="u1")
    return [
        person("1", ADA, "c-ada", "Ada"),
        UpsertAccount(item_id="2", account=Account(account_id="acme")),
        UpsertMembership(item_id="3", identifiers=(ADA,), membership=Membership(account_id="acme")),
        TrackEvent(item_id="4", identifiers=(ADA,), event=event),
        AudienceEntered(item_id="5", identifiers=(ADA,), audience="buyers"),
        AudienceExited(item_id="6", identifiers=(ADA,), audience="prospects"),
    ]


async def test_appends_one_line_per_change_and_answers_path_and_line(workdir: Path) -> None:
    dest = destination()
    batch = every_kind()
    outcomes = await dest.write(batch)
    assert outcomes == [
        Delivered(item_id=str(n), external_id=f"out/crm.jsonl:{n}") for n in range(1, 7)
    ]
    written = lines(workdir / "out" / "crm.jsonl")
    for change, line in zip(batch, written, strict=True):
        delivered_at = line.pop("delivered_at")
        assert datetime.fromisoformat(delivered_at).tzinfo is not None
        assert line == change.model_dump(mode="json")
    more = await dest.write([person("7", BOB, "c-bob", "Bob")])
    assert more == [Delivered(item_id="7", external_id="out/crm.jsonl:7")]


async def test_line_numbers_continue_an_existing_file(workdir: Path) -> None:
    path = workdir / "crm.jsonl"
    path.write_text('{"kind": "old"}\n{"kind": "old"}')  # the last line lost its newline
    outcomes = await destination("crm.jsonl").write([person("1", ADA, "c-ada", "Ada")])
    assert outcomes == [Delivered(item_id="1", external_id="crm.jsonl:3")]
    assert [line["kind"] for line in lines(path)] == ["old", "old", "upsert_person"]


async def test_line_numbers_follow_writes_from_elsewhere(workdir: Path) -> None:
    dest = destination("crm.jsonl")
    await dest.write([person("1", ADA, "c-ada", "Ada")])
    with (workdir / "crm.jsonl").open("a") as f:
        f.write('{"kind": "other"}\n')
    outcomes = await dest.write([person("2", BOB, "c-bob", "Bob")])
    assert outcomes == [Delivered(item_id="2", external_id="crm.jsonl:3")]


async def test_each_write_opens_the_file_once_and_fsyncs(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    dest = destination()
    await dest.write(every_kind())
    await dest.write(every_kind())
    # Two appends, plus the new directory entry after the first one.
    assert len(synced) == 3


async def test_forget_removes_every_line_of_the_person(workdir: Path) -> None:
    dest = destination()
    anonymous = Identifier(type="anonymous_id", value="anon-1")
    await dest.write(
        [
            person("1", ADA, "c-ada", "Ada"),
            person("2", BOB, "c-bob", "Bob"),
            # Same contact, another identifier: goes with Ada.
            AudienceEntered(
                item_id="3", contact_id="c-ada", identifiers=(anonymous,), audience="x"
            ),
            UpsertAccount(item_id="4", account=Account(account_id="acme")),
        ]
    )
    path = workdir / "out" / "crm.jsonl"
    with path.open("a") as f:
        f.write("not json, kept as it is\n")
    (path.parent / "notes.txt").write_text("untouched")
    mode = path.stat().st_mode
    assert await dest.forget([ADA]) == Delivered(item_id="forget")
    assert path.read_text().splitlines()[-1] == "not json, kept as it is"
    assert [json.loads(line)["item_id"] for line in path.read_text().splitlines()[:-1]] == [
        "2",
        "4",
    ]
    assert "ada@example.com" not in path.read_text()
    assert path.stat().st_mode == mode
    assert sorted(p.name for p in path.parent.iterdir()) == ["crm.jsonl", "notes.txt"]
    # Line numbers go on from the rewritten file.
    outcomes = await dest.write([person("5", ADA, "c-ada", "Ada again")])
    assert outcomes == [Delivered(item_id="5", external_id="out/crm.jsonl:4")]


async def test_forget_without_a_match_or_a_file_changes_nothing(workdir: Path) -> None:
    dest = destination()
    assert await dest.forget([ADA]) == Delivered(item_id="forget")
    assert not (workdir / "out").exists()
    await dest.write([person("1", BOB, "c-bob", "Bob")])
    path = workdir / "out" / "crm.jsonl"
    before = path.stat()
    await dest.forget([ADA])
    assert path.stat().st_ino == before.st_ino
    assert len(lines(path)) == 1


async def test_a_forget_change_erases_instead_of_appending(workdir: Path) -> None:
    dest = destination()
    outcomes = await dest.write(
        [
            person("1", ADA, "c-ada", "Ada"),
            person("2", BOB, "c-bob", "Bob"),
            Forget(item_id="3", contact_id="c-ada", identifiers=(ADA,)),
            person("4", BOB, "c-bob", "Robert"),
        ]
    )
    assert outcomes == [
        Delivered(item_id="1", external_id="out/crm.jsonl:1"),
        Delivered(item_id="2", external_id="out/crm.jsonl:2"),
        Delivered(item_id="3"),
        Delivered(item_id="4", external_id="out/crm.jsonl:2"),
    ]
    written = lines(workdir / "out" / "crm.jsonl")
    assert [line["item_id"] for line in written] == ["2", "4"]


async def test_an_unwritable_path_is_a_transient_error(workdir: Path) -> None:
    (workdir / "blocker").write_text("a file where a directory should be")
    with pytest.raises(TransientError, match=r"cannot write blocker/crm\.jsonl"):
        await destination("blocker/crm.jsonl").write([person("1", ADA, "c-ada", "Ada")])


async def test_a_merge_change_is_written_as_the_merge_line(workdir: Path) -> None:
    dest = destination()
    await dest.write([person("1", BOB, "c-old", "Bob")])
    merge = MergeContacts(
        item_id="2",
        contact_id="c-ada",
        identifiers=(ADA,),
        absorbed_contact_id="c-old",
        absorbed_identifiers=(BOB,),
        absorbed_external_id="out/crm.jsonl:1",
    )
    outcomes = await dest.write([merge, person("3", ADA, "c-ada", "Ada")])
    assert outcomes[0] == Delivered(item_id="2", external_id="out/crm.jsonl:2")
    written = lines(workdir / "out" / "crm.jsonl")
    assert [line["kind"] for line in written] == ["upsert_person", "merge", "upsert_person"]
    assert written[1]["contact_id"] == "c-ada"
    assert written[1]["absorbed_contact_id"] == "c-old"
    assert written[1]["absorbed_identifiers"] == [{"type": "email", "value": "bob@example.com"}]
    assert written[1]["absorbed_external_id"] == "out/crm.jsonl:1"
