"""Write keys are found by digest, with the same steps for a known and an unknown key."""

from __future__ import annotations

from typing import Any

import pytest

from spokehub import write_keys
from spokehub.config import validate
from spokehub.write_keys import WriteKeyTable


def test_each_key_finds_its_source():
    project = validate(
        {
            "connections": {
                "web": {"kind": "source", "write_keys": ["wk-web-1", "wk-web-2"]},
                "app": {"kind": "source", "write_keys": ["wk-app"]},
                "crm": {"kind": "destination", "spoke": "files"},
            }
        }
    )
    assert project.source_for_write_key("wk-web-1") == "web"
    assert project.source_for_write_key("wk-web-2") == "web"
    assert project.source_for_write_key("wk-app") == "app"
    for unknown in ("wk-web", "wk-web-1 ", "WK-APP", "x" * 10_000, "é"):
        assert project.source_for_write_key(unknown) is None


class _Recording(dict[Any, Any]):
    """The table's dict, noting what each lookup asked for."""

    def __init__(self, data: dict[Any, Any], trace: list[tuple[Any, ...]]) -> None:
        super().__init__(data)
        self.trace = trace

    def get(self, key: Any, default: Any = None) -> Any:
        self.trace.append(("get", type(key).__name__, len(key)))
        return super().get(key, default)


@pytest.fixture
def traced(monkeypatch):
    trace: list[tuple[Any, ...]] = []
    real_digest, real_compare = write_keys._digest, write_keys.compare_digest

    def digest(key: str) -> bytes:
        trace.append(("digest",))
        return real_digest(key)

    def compare(a: bytes, b: bytes) -> bool:
        trace.append(("compare", len(a), len(b)))
        return real_compare(a, b)

    monkeypatch.setattr(write_keys, "_digest", digest)
    monkeypatch.setattr(write_keys, "compare_digest", compare)
    table = WriteKeyTable([("web", "wk-known"), ("app", "wk-other")])
    table._by_digest = _Recording(table._by_digest, trace)
    return table, trace


def test_known_and_unknown_keys_take_the_same_steps(traced):
    table, trace = traced
    steps = {}
    for key in ("wk-known", "wk-knowm", "wk-", "a much longer key than any configured one"):
        trace.clear()
        table.source(key)
        steps[key] = list(trace)
    assert table.source("wk-known") == "web"
    expected = [("digest",), ("get", "bytes", 32), ("compare", 32, 32)]
    assert all(s == expected for s in steps.values()), steps
