"""Junk values: placeholders that never identify anyone, whatever the project's rules."""

from __future__ import annotations

import pytest

from spokehub.identity import IdentityRules
from spokehub.identity.junk import is_junk

JUNK = [
    "0000",
    "0",
    "",
    "-1",
    "null",
    "NULL",
    "undefined",
    "anonymous",
    "n/a",
    "test@test.com",
    "noreply@example.com",
    "00000000-0000-0000-0000-000000000000",
    "+0000000",
]


@pytest.mark.parametrize("value", JUNK)
def test_junk_values(value: str) -> None:
    assert is_junk(value)


@pytest.mark.parametrize("value", JUNK)
def test_rules_without_blocked_values_still_block_junk(value: str) -> None:
    assert IdentityRules(blocked_values=[]).is_blocked(value)


@pytest.mark.parametrize(
    "value",
    [
        "ada@example.com",
        "testing@example.com",
        "+4915123456789",
        "u_8f3a",
        "550e8400-e29b-41d4-a716-446655440000",
        "10",
        "1001",
        "guest42",
        "nullable",
    ],
)
def test_real_values_are_not_junk(value: str) -> None:
    assert not is_junk(value)


def test_extra_junk_patterns() -> None:
    assert is_junk("demo@acme.test", extra_patterns=[r".*@acme\.test$"])
    assert not is_junk("ada@acme.com", extra_patterns=[r".*@acme\.test$"])
