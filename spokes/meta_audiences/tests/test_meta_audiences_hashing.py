"""Meta's normalization and hashing, on known vectors: each expected hash is SHA-256 of
the hand-normalized string, written out here (computed apart from this code), and
recomputed with hashlib."""

from __future__ import annotations

import hashlib

import pytest

from spokehub_contracts import Identifier, ValidationFailed
from spokehub_meta_audiences import identifier_hash, meta_hash, payload, rows_of

# (identifier type, raw input, normalized by Meta's rules by hand, its SHA-256)
VECTORS = [
    (
        "email",
        "  Ada.Lovelace@Example.COM ",
        "ada.lovelace@example.com",
        "e814ff3dc480a94c7ce9334062ec4733c75a002f4bcec0197f62ffea64059e2f",
    ),
    (
        "email",
        "ada@example.com",
        "ada@example.com",
        "b5fc85e55755f9e0d030a10ab4429b6b2944855f9a0d60077fe832becbc41d72",
    ),
    # Digits only, with the country code: symbols, spaces and the + go.
    (
        "phone",
        "+1 (650) 555-1212",
        "16505551212",
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
    ),
    # A national number gets its country code (the default region, US).
    (
        "phone",
        "(650) 555-1212",
        "16505551212",
        "e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176",
    ),
    # The international prefix 00 is no part of the number: no leading zeros.
    (
        "phone",
        "0049 151 1234 5678",
        "4915112345678",
        "8efb96404be52f6109b9db0f687274a81e9e3cc23fabd6f0da5d38baa3d2facd",
    ),
    # The trunk zero after a country code goes too.
    (
        "phone",
        "+44 (0)7700 900123",
        "447700900123",
        "033134b911b137918338415ee3d20a064b24773d36a3b02e8b99fdd3fcd6b4cd",
    ),
]


@pytest.mark.parametrize(("type_", "raw", "normalized", "expected"), VECTORS)
def test_known_vectors(type_: str, raw: str, normalized: str, expected: str) -> None:
    assert hashlib.sha256(normalized.encode()).hexdigest() == expected
    assert meta_hash(type_, raw) == expected
    assert identifier_hash(Identifier(type=type_, value=raw)) == expected


def test_what_is_no_email_or_phone_is_refused_by_name_and_rule() -> None:
    with pytest.raises(ValidationFailed) as raised:
        meta_hash("email", "ada at example")
    assert raised.value.field == "email"
    assert "ada" not in str(raised.value)
    with pytest.raises(ValidationFailed):
        meta_hash("phone", "call me")


def test_rows_pair_emails_with_phones_and_leave_out_other_identifiers() -> None:
    identifiers = [
        Identifier(type="email", value="ada@example.com"),
        Identifier(type="user_id", value="u-1"),
        Identifier(type="phone", value="+1 650 555 1212"),
        Identifier(type="email", value="ADA@example.com"),  # the same address again
        Identifier(type="email", value="ada.lovelace@example.com"),
    ]
    assert rows_of(identifiers) == [
        (VECTORS[1][3], VECTORS[2][3]),
        (VECTORS[0][3], ""),
    ]
    assert rows_of([Identifier(type="user_id", value="u-1")]) == []


def test_one_key_is_a_flat_list_of_hashes() -> None:
    assert payload([("e1", ""), ("e2", "")]) == {"schema": "EMAIL_SHA256", "data": ["e1", "e2"]}
    assert payload([("", "p1")]) == {"schema": "PHONE_SHA256", "data": ["p1"]}


def test_several_keys_are_rows_of_hashes_with_unknown_keys_left_empty() -> None:
    assert payload([("e1", "p1"), ("e2", ""), ("", "p3")]) == {
        "schema": ["EMAIL", "PHONE"],
        "data": [["e1", "p1"], ["e2", ""], ["", "p3"]],
    }
