"""Rows become records of each kind: mapping, identity-named columns, catch-alls, constants."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from spokehub_contracts import (
    Account,
    Address,
    Consent,
    ConsentPurpose,
    Event,
    EventType,
    Identifier,
    Membership,
    Person,
    ScoredTrait,
)
from spokehub_files import StreamConfig
from spokehub_files._mapping import RowInvalid, RowMapper


def mapper(**stream: Any) -> RowMapper:
    stream.setdefault("name", "s")
    stream.setdefault("path", "data.csv")
    return RowMapper(StreamConfig.model_validate(stream))


def test_person_mapping_nested_fields_and_attributes() -> None:
    m = mapper(
        kind="person",
        mapping={"dob": "birthday", "city": "address.city", "tier": "attributes.loyalty_tier"},
        identifiers={"email": "email", "id": "shopify:customer_id"},
        record_id="id",
    )
    record = m.map(
        {
            "id": "42",
            "email": " Ada@Example.COM ",
            "first_name": "Ada",
            "dob": "1990-01-02",
            "city": "London",
            "tier": "gold",
            "favourite_colour": "green",
            "empty": "",
        }
    )
    assert record.stream == "s"
    assert record.record_id == "42"
    assert record.kind == "person"
    assert record.identifiers == (
        Identifier(type="email", value="ada@example.com"),
        Identifier(type="shopify:customer_id", value="42"),
    )
    assert record.data == Person(
        first_name="Ada",
        email=" Ada@Example.COM ",
        birthday=date(1990, 1, 2),
        address=Address(city="London"),
        attributes={"loyalty_tier": "gold", "favourite_colour": "green"},
    )


def test_account_catch_all_goes_to_attributes() -> None:
    m = mapper(kind="account", mapping={"company": "name", "staff": "employees"})
    record = m.map({"account_id": "acme", "company": "Acme", "staff": "120", "segment": "smb"})
    assert record.identifiers == ()
    assert record.data == Account(
        account_id="acme", name="Acme", employees=120, attributes={"segment": "smb"}
    )


def test_membership_needs_no_catch_all_when_every_column_is_placed() -> None:
    m = mapper(
        kind="membership",
        mapping={"org": "account_id", "since": "started_at"},
        identifiers={"email": "email"},
    )
    record = m.map(
        {"email": "ada@example.com", "org": "acme", "role": "cto", "since": "2020-01-01"}
    )
    assert record.identifiers == (Identifier(type="email", value="ada@example.com"),)
    assert record.data == Membership(
        account_id="acme", role="cto", started_at=datetime(2020, 1, 1, tzinfo=None)
    )


def test_consent_with_constants() -> None:
    m = mapper(
        kind="consent",
        mapping={"opted_in": "granted", "at": "recorded_at"},
        identifiers={"email": "email"},
        constants={"source": "webshop", "purpose": "email_marketing"},
    )
    record = m.map({"email": "ada@example.com", "opted_in": "yes", "at": "2024-05-01T10:00:00Z"})
    assert record.data == Consent(
        purpose=ConsentPurpose.EMAIL_MARKETING,
        granted=True,
        source="webshop",
        recorded_at=datetime(2024, 5, 1, 10, tzinfo=UTC),
    )


def test_a_column_value_beats_a_constant_but_an_empty_one_does_not() -> None:
    m = mapper(
        kind="consent",
        identifiers={"email": "email"},
        constants={"source": "webshop", "purpose": "email_marketing", "granted": False},
    )
    filled = m.map({"email": "a@example.com", "source": "pos", "granted": "true"})
    empty = m.map({"email": "a@example.com", "source": "", "granted": ""})
    assert (filled.data.source, filled.data.granted) == ("pos", True)  # type: ignore[union-attr]
    assert (empty.data.source, empty.data.granted) == ("webshop", False)  # type: ignore[union-attr]


def test_event_catch_all_goes_to_properties_and_carries_its_identifiers() -> None:
    m = mapper(
        kind="event",
        mapping={"customer": "user_id", "order": "properties.order_id", "at": "timestamp"},
        identifiers={"email": "email"},
        constants={"type": "track", "event": "Order Completed"},
        record_id="order",
    )
    record = m.map(
        {
            "order": "o-1",
            "customer": "u-7",
            "email": "ada@example.com",
            "total": "19.90",
            "at": "2024-05-01T10:00:00+00:00",
        }
    )
    assert record.record_id == "o-1"
    assert isinstance(record.data, Event)
    assert record.data.type is EventType.TRACK
    assert record.data.event == "Order Completed"
    assert record.data.user_id == "u-7"
    assert record.data.properties == {"order_id": "o-1", "total": "19.90"}
    assert record.identifiers == (
        Identifier(type="email", value="ada@example.com"),
        Identifier(type="user_id", value="u-7"),
    )


def test_segment_shaped_json_maps_without_a_mapping() -> None:
    m = mapper(kind="event", path="events.jsonl")
    record = m.map(
        {
            "type": "identify",
            "userId": 7,
            "traits": {"email": "Ada@Example.com", "plan": "pro"},
            "context": {"ip": "203.0.113.1"},
        }
    )
    assert isinstance(record.data, Event)
    assert record.data.traits == {"email": "Ada@Example.com", "plan": "pro"}
    assert record.identifiers == (
        Identifier(type="user_id", value="7"),
        Identifier(type="email", value="ada@example.com"),
    )


def test_score_values_from_csv_are_typed() -> None:
    m = mapper(
        kind="score",
        identifiers={"email": "email"},
        mapping={"score": "value"},
        constants={"name": "churn_risk", "model": "churn-v3"},
    )
    record = m.map({"email": "a@example.com", "score": "0.83", "computed_at": "2024-05-01"})
    assert isinstance(record.data, ScoredTrait)
    assert record.data.value == 0.83
    assert m.map({"email": "a@example.com", "score": "high"}).data.value == "high"  # type: ignore[union-attr]
    assert m.map({"email": "a@example.com", "score": "NaN"}).data.value == "NaN"  # type: ignore[union-attr]


def test_score_values_from_json_are_kept_as_they_are() -> None:
    m = mapper(kind="score", path="scores.jsonl", identifiers={"email": "email"})
    row = {"email": "a@example.com", "name": "recs", "model": "m1", "value": ["sku-1", "sku-2"]}
    assert m.map(row).data.value == ["sku-1", "sku-2"]  # type: ignore[union-attr]
    assert m.map({**row, "value": "0.5"}).data.value == "0.5"  # type: ignore[union-attr]


def test_explicit_mapping_wins_over_a_column_named_like_the_field() -> None:
    m = mapper(kind="person", identifiers={"id": "user_id"}, mapping={"work_email": "email"})
    record = m.map({"id": "1", "email": "home@example.com", "work_email": "work@example.com"})
    assert record.data.email == "work@example.com"  # type: ignore[union-attr]


def test_json_objects_merge_into_attributes() -> None:
    m = mapper(kind="person", path="p.jsonl", identifiers={"id": "user_id"})
    record = m.map({"id": "1", "attributes": {"a": 1}, "b": 2})
    assert record.data.attributes == {"a": 1, "b": 2}  # type: ignore[union-attr]


def test_ignored_columns_are_left_out() -> None:
    m = mapper(kind="membership", identifiers={"email": "email"}, ignore=["internal_note"])
    record = m.map({"email": "a@example.com", "account_id": "acme", "internal_note": "x"})
    assert record.data == Membership(account_id="acme")


@pytest.mark.parametrize(
    ("stream", "row", "expected"),
    [
        (
            {"kind": "person", "identifiers": {"id": "user_id"}, "mapping": {"dob": "birthday"}},
            {"id": "1", "dob": "1990-13-01"},
            [("birthday", "dob")],
        ),
        (
            {"kind": "membership", "identifiers": {"email": "email"}},
            {"email": "a@example.com", "account_id": "acme", "shoe_size": "44"},
            [("shoe_size", "shoe_size")],
        ),
        (
            {"kind": "person", "identifiers": {"email": "email"}},
            {"email": "not-an-address"},
            [("email", "email")],
        ),
        (
            {"kind": "membership", "identifiers": {"email": "email"}},
            {
                "email": "a@example.com",
                "account_id": "acme",
                "started_at": "2024-01-01",
                "ended_at": "2023-01-01",
            },
            [("(record)", None)],
        ),
        (
            {"kind": "event", "constants": {"type": "track"}},
            {"userId": "u1"},
            [("(record)", None)],
        ),
        (
            {"kind": "person", "identifiers": {"email": "email", "id": "user_id"}},
            {"first_name": "Ada"},
            [("identifiers", None)],
        ),
        (
            {"kind": "person", "identifiers": {"id": "user_id"}, "mapping": {"c": "address.city"}},
            {"id": "1", "address": "somewhere", "c": "London"},
            [("address", "c"), ("address", "address")],
        ),
    ],
    ids=[
        "bad-date",
        "unknown-field",
        "bad-email",
        "model-rule",
        "event-rule",
        "no-identifier",
        "not-an-object",
    ],
)
def test_invalid_rows_name_field_and_column(
    stream: dict[str, Any], row: dict[str, Any], expected: list[tuple[str, str | None]]
) -> None:
    with pytest.raises(RowInvalid) as caught:
        mapper(**stream).map(row)
    assert [(field, column) for field, _, column in caught.value.problems] == expected
    for _, rule, _ in caught.value.problems:
        assert rule
        for value in row.values():
            if len(str(value)) > 3:  # short values ("1") may be part of any message
                assert str(value) not in rule


def test_every_problem_of_a_row_is_reported() -> None:
    m = mapper(kind="person", identifiers={"email": "email"}, mapping={"n": "age"})
    with pytest.raises(RowInvalid) as caught:
        m.map({"email": "bad", "birthday": "never", "n": "-4"})
    assert sorted(field for field, _, _ in caught.value.problems) == ["age", "birthday", "email"]
