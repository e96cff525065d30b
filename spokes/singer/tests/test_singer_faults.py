"""The Singer tap bridge with a fake tap: mapping, checkpoints, and the three ways a tap
fails (garbage on stdout, a non-zero exit, a hang), each named in the error; its stderr
reaches the log with the secret masked."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from spokehub_contracts import (
    Identifier,
    Person,
    RejectedRecord,
    SourceRecord,
    StateCheckpoint,
    UpsertPerson,
)
from spokehub_singer import (
    ConnectorExited,
    ConnectorHung,
    ConnectorOutputInvalid,
    SingerTap,
    SingerTapConfig,
    SingerTarget,
)

SECRET = "sk-live-0123456789abcdef"


def _tap(program: str, **config: Any) -> SingerTap:
    return SingerTap(
        SingerTapConfig.model_validate(
            {
                "executable": program,
                "config": {"rows": 6, **config},
                "secrets": {"api_key": SECRET},
                "timeout_seconds": config.pop("timeout", 20),
                "streams": {
                    "people": {
                        "kind": "person",
                        "identifiers": {"email": "email"},
                        "mapping": {"plan": "attributes.plan"},
                    }
                },
            }
        )
    )


async def _read(tap: SingerTap, state: Any = None) -> tuple[list[Any], BaseException | None]:
    items: list[Any] = []
    try:
        async for item in tap.read("people", state):
            items.append(item)
    except Exception as exc:
        return items, exc
    return items, None


async def test_records_are_mapped_and_each_state_follows_its_records(fake_tap, caplog):
    caplog.set_level(logging.INFO, "spokehub_singer")
    items, error = await _read(_tap(fake_tap))
    assert error is None
    records = [i for i in items if isinstance(i, SourceRecord)]
    assert [r.record_id for r in records] == [f"p{n}" for n in range(6)]
    assert records[0].identifiers == (Identifier(type="email", value="person0@example.com"),)
    assert records[0].data.attributes == {"id": "p0", "plan": "gold"}
    kinds = ["S" if isinstance(i, StateCheckpoint) else "R" for i in items]
    assert "".join(kinds) == "RRSRRSRRSS"
    assert items[2].state == {"bookmarks": {"people": {"position": 2}}}
    logged = caplog.text
    assert "starting with key" in logged and SECRET not in logged


async def test_a_read_resumes_from_the_tap_state(fake_tap):
    items, _ = await _read(_tap(fake_tap), {"bookmarks": {"people": {"position": 4}}})
    assert [i.record_id for i in items if isinstance(i, SourceRecord)] == ["p4", "p5"]


async def test_garbage_on_stdout_is_invalid_output(fake_tap):
    items, error = await _read(_tap(fake_tap, fault="garbage", fault_after=3))
    assert isinstance(error, ConnectorOutputInvalid)
    assert "printed invalid output" in str(error) and "not JSON" in str(error)
    assert "Traceback" not in str(error)
    states = [i.state for i in items if isinstance(i, StateCheckpoint)]
    assert states[-1] == {"bookmarks": {"people": {"position": 2}}}


async def test_a_non_zero_exit_says_the_code_and_the_last_words(fake_tap):
    _, error = await _read(_tap(fake_tap, fault="exit", fault_after=3))
    assert isinstance(error, ConnectorExited)
    assert "exited with code 1" in str(error) and "the vendor said no" in str(error)
    assert SECRET not in str(error)


async def test_a_hang_is_stopped_after_the_timeout(fake_tap):
    _, error = await _read(_tap(fake_tap, fault="hang", fault_after=3, timeout=1))
    assert isinstance(error, ConnectorHung)
    assert "hung: no output for 1s" in str(error)


async def test_a_row_that_breaks_the_schema_is_rejected_with_its_reason(tmp_path, fake_tap):
    tap = SingerTap(
        SingerTapConfig.model_validate(
            {
                "executable": fake_tap,
                "config": {"rows": 2},
                "streams": {
                    "people": {
                        "kind": "person",
                        "identifiers": {"email": "email"},
                        "mapping": {"plan": "age"},
                    }
                },
            }
        )
    )
    items, error = await _read(tap)
    assert error is None
    rejected = [i for i in items if isinstance(i, RejectedRecord)]
    assert len(rejected) == 2 and rejected[0].field == "age"
    assert rejected[0].location == "people:record 1"


def test_the_mapping_is_checked_when_the_project_is_validated(fake_tap):
    with pytest.raises(ValueError, match="identifiers: a person stream needs"):
        SingerTapConfig.model_validate(
            {"executable": fake_tap, "streams": {"people": {"kind": "person"}}}
        )
    with pytest.raises(ValueError, match="'nickname' is not a field of person"):
        SingerTapConfig.model_validate(
            {
                "executable": fake_tap,
                "streams": {
                    "p": {
                        "kind": "person",
                        "identifiers": {"e": "email"},
                        "mapping": {"n": "nickname"},
                    }
                },
            }
        )


def _upsert(n: int) -> UpsertPerson:
    return UpsertPerson(
        item_id=f"i{n}",
        contact_id=f"c{n}",
        identifiers=(Identifier(type="email", value=f"p{n}@example.com"),),
        person=Person(email=f"p{n}@example.com", first_name="Ada"),
    )


async def test_the_target_echoing_the_batch_state_acknowledges_it(tmp_path, fake_target):
    out = tmp_path / "out.jsonl"
    target = SingerTarget(
        SingerTarget.Config.model_validate(
            {"executable": fake_target, "config": {"path": str(out)}}
        )
    )
    outcomes = await target.write([_upsert(1), _upsert(2)])
    assert [(o.item_id, o.status) for o in outcomes] == [("i1", "delivered"), ("i2", "delivered")]
    assert '"contact_id": "c1"' in out.read_text()


async def test_a_target_that_does_not_echo_gets_the_batch_again(tmp_path, fake_target):
    config = {"path": str(tmp_path / "o.jsonl"), "fault": "silent"}
    target = SingerTarget(
        SingerTarget.Config.model_validate({"executable": fake_target, "config": config})
    )
    outcomes = await target.write([_upsert(1)])
    assert outcomes[0].status == "retry" and "without echoing" in outcomes[0].reason
    config["fault"] = "exit"
    target = SingerTarget(
        SingerTarget.Config.model_validate({"executable": fake_target, "config": config})
    )
    with pytest.raises(ConnectorExited, match="cannot write"):
        await target.write([_upsert(1)])
