"""The Airbyte source bridge with a fake source: check, per-stream STATE, TRACE errors
mapped to the contract's errors, and a RATE_LIMITED stream status kept for the run record."""

from __future__ import annotations

from typing import Any

import pytest

from spokehub_contracts import AuthError, CheckStatus, SourceRecord, StateCheckpoint, TransientError
from spokehub_singer import AirbyteSource, AirbyteSourceConfig

SECRET = "good-key"


def _source(program: str, key: str = SECRET, **config: Any) -> AirbyteSource:
    return AirbyteSource(
        AirbyteSourceConfig.model_validate(
            {
                "executable": program,
                "config": config,
                "secrets": {"api_key": key},
                "timeout_seconds": 20,
                "streams": {"users": {"kind": "person", "identifiers": {"email": "email"}}},
            }
        )
    )


async def _read(source: AirbyteSource, state: Any = None) -> tuple[list[Any], Exception | None]:
    items: list[Any] = []
    try:
        async for item in source.read("users", state):
            items.append(item)
    except Exception as exc:
        return items, exc
    return items, None


async def test_check_tells_refused_credentials(fake_airbyte):
    assert (await _source(fake_airbyte).check()).status is CheckStatus.OK
    refused = await _source(fake_airbyte, key="wrong").check()
    assert refused.status is CheckStatus.AUTH_ERROR and "401" in refused.message


async def test_records_and_per_stream_state_resume(fake_airbyte, caplog):
    caplog.set_level("INFO", "spokehub_singer")
    items, error = await _read(_source(fake_airbyte))
    assert error is None
    kinds = "".join("S" if isinstance(i, StateCheckpoint) else "R" for i in items)
    assert kinds == "RRSRRS"
    assert [i.record_id for i in items if isinstance(i, SourceRecord)] == ["1", "2", "3", "4"]
    resumed, _ = await _read(_source(fake_airbyte), items[2].state)
    assert [i.record_id for i in resumed if isinstance(i, SourceRecord)] == ["3", "4"]
    assert "key ***" in caplog.text and SECRET not in caplog.text


@pytest.mark.parametrize(
    ("fault", "error_class", "said"),
    [
        ("config_error", AuthError, "reported a config_error: 401 Unauthorized"),
        ("transient_error", TransientError, "reported a transient_error: socket closed"),
    ],
)
async def test_trace_errors_become_the_contract_errors(fake_airbyte, fault, error_class, said):
    items, error = await _read(_source(fake_airbyte, fault=fault))
    assert type(error) is error_class and said in str(error)
    assert [i.state for i in items if isinstance(i, StateCheckpoint)] == [
        {
            "type": "STREAM",
            "stream": {"stream_descriptor": {"name": "users"}, "stream_state": {"id": 2}},
        }
    ]


async def test_a_rate_limited_stream_is_noted_for_the_run_record(fake_airbyte):
    source = _source(fake_airbyte, fault="rate_limited")
    _, error = await _read(source)
    assert error is None
    assert (
        source.stream_status("users") == "RATE_LIMITED (quota resets at 2026-01-01T00:00:00+00:00)"
    )
