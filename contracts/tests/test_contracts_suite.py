"""The conformance suite, run on a conforming vendor spoke: every test applies and passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from demo_vendor import (
    DESTINATION_CONFIG,
    SOURCE_CONFIG,
    DemoDestination,
    DemoSandbox,
    DemoSource,
)

from spokehub_contracts.testing import SpokeConformance
from spokehub_contracts.testing._conformance import schema_breaks


class TestDemoDestination(SpokeConformance):
    spoke = DemoDestination
    config = DESTINATION_CONFIG
    sandbox = DemoSandbox
    config_schema_file = "demo_destination_config.json"


class TestDemoSource(SpokeConformance):
    spoke = DemoSource
    config = SOURCE_CONFIG
    sandbox = DemoSandbox
    config_schema_file = "demo_source_config.json"


OLD = {
    "properties": {
        "api_key": {"type": "string", "format": "password", "writeOnly": True},
        "region": {"enum": ["eu", "us"], "type": "string"},
        "page_size": {"type": "integer"},
        "legacy": {"type": "string"},
    },
    "required": ["api_key"],
}


def test_schema_breaks_names_what_refuses_an_old_config() -> None:
    new = {
        "properties": {
            "api_key": {"type": "string", "format": "password", "writeOnly": True},
            "region": {"enum": ["eu"], "type": "string"},
            "page_size": {"type": "string"},
            "account": {"type": "string"},
        },
        "required": ["api_key", "account"],
    }
    assert schema_breaks(OLD, new) == [
        "key 'legacy' was removed",
        "key 'account' is now required",
        "key 'region' no longer takes ['us']",
        "key 'page_size' no longer takes ['integer']",
    ]


def test_adding_optional_keys_and_widening_types_is_compatible() -> None:
    new = {
        "properties": {
            **OLD["properties"],
            "page_size": {"anyOf": [{"type": "integer"}, {"type": "null"}]},
            "region": {"enum": ["eu", "us", "apac"], "type": "string"},
            "timeout": {"type": "number", "default": 30},
        },
        "required": ["api_key"],
    }
    assert schema_breaks(OLD, new) == []


def test_a_changed_config_fails_against_the_stored_schema(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = tmp_path / "schema.json"
    stored.write_text(json.dumps(OLD))
    suite = type(
        "Suite", (SpokeConformance,), {"spoke": DemoDestination, "config_schema_file": str(stored)}
    )()
    monkeypatch.delenv("SPOKEHUB_UPDATE_SCHEMA", raising=False)
    with pytest.raises(AssertionError, match=r"not backward compatible with schema\.json: key"):
        suite.test_config_schema_is_backward_compatible()
    monkeypatch.setenv("SPOKEHUB_UPDATE_SCHEMA", "1")
    suite.test_config_schema_is_backward_compatible()
    assert json.loads(stored.read_text()) == DemoDestination.Config.model_json_schema()
    monkeypatch.delenv("SPOKEHUB_UPDATE_SCHEMA")
    suite.test_config_schema_is_backward_compatible()
    stored.unlink()
    with pytest.raises(AssertionError, match=r"no stored config schema at schema\.json"):
        suite.test_config_schema_is_backward_compatible()
