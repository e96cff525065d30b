"""The mapping rules and Klaviyo's error documents, without a request."""

from __future__ import annotations

from datetime import date

import pytest

from spokehub_contracts import Event, Identifier, Person
from spokehub_klaviyo import (
    KlaviyoConfig,
    errors_of,
    event_body,
    event_value,
    match_keys,
    metric_name,
    profile_attributes,
)


def test_match_keys_are_the_first_email_phone_and_user_id() -> None:
    identifiers = (
        Identifier(type="email", value="ada@example.com"),
        Identifier(type="email", value="ada@work.example"),
        Identifier(type="phone", value="+447700900123"),
        Identifier(type="user_id", value="u-1"),
        Identifier(type="anonymous_id", value="anon-1"),
    )
    assert match_keys(identifiers) == {
        "email": "ada@example.com",
        "phone_number": "+447700900123",
        "external_id": "u-1",
    }


def test_traits_without_a_klaviyo_attribute_become_properties() -> None:
    person = Person(
        first_name="Ada",
        email="ada@example.com",
        phone="+447700900123",
        avatar="https://example.com/ada.png",
        birthday=date(1815, 12, 10),
        address={"street": "1 Main St", "state": "LND"},
        attributes={"plan": "gold"},
    )
    assert profile_attributes(person, ()) == {
        "email": "ada@example.com",
        "phone_number": "+447700900123",
        "first_name": "Ada",
        "image": "https://example.com/ada.png",
        "location": {"address1": "1 Main St", "region": "LND"},
        "properties": {"birthday": "1815-12-10", "plan": "gold"},
    }


def test_the_identifiers_win_over_the_traits_as_match_keys() -> None:
    person = Person(email="old@example.com")
    identifiers = (Identifier(type="email", value="ada@example.com"),)
    assert profile_attributes(person, identifiers)["email"] == "ada@example.com"


def _event(**fields: object) -> Event:
    return Event.model_validate({"userId": "u-1", **fields})


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"type": "track", "event": "Onboarding Due"}, "Onboarding Due"),
        ({"type": "page", "name": "Pricing"}, "Viewed Pricing"),
        ({"type": "screen"}, "Viewed Screen"),
        ({"type": "identify"}, "Identify"),
    ],
)
def test_the_metric_is_named_after_the_event(fields: dict[str, object], name: str) -> None:
    assert metric_name(_event(**fields)) == name


def test_the_value_is_the_first_number_among_value_revenue_total() -> None:
    assert event_value({"revenue": 12, "total": 30}) == 12.0
    assert event_value({"value": "12", "total": 30.5}) == 30.5
    assert event_value({"total": True}) is None


def test_an_event_without_message_id_or_time_leaves_them_out() -> None:
    body = event_body(_event(type="track", event="Signed Up"), ())
    assert set(body["data"]["attributes"]) == {"properties", "metric", "profile"}


def test_klaviyos_error_document_is_read_field_by_field() -> None:
    body = {
        "errors": [
            {
                "id": "7fd3a5f1-0e3b-4b6a-9a2c-2f3e3a1b0c9d",
                "status": 400,
                "code": "invalid",
                "title": "Invalid input.",
                "detail": "The email ada@example.com is not valid",
                "source": {"pointer": "/data/attributes/email"},
            }
        ]
    }
    [error] = errors_of(body)
    assert (error.status, error.code, error.pointer) == (400, "invalid", "/data/attributes/email")
    assert error.id == "7fd3a5f1-0e3b-4b6a-9a2c-2f3e3a1b0c9d"
    described = error.describe()
    assert described.startswith("invalid at /data/attributes/email: The email ")
    assert "ada@example.com" not in described


def test_anything_but_an_error_document_has_no_errors() -> None:
    assert errors_of({"message": "no"}) == errors_of(None) == errors_of({"errors": "x"}) == []


@pytest.mark.parametrize("revision", ["2024-10-15", "2025-01-15.pre"])
def test_a_dated_revision_is_accepted(revision: str) -> None:
    assert KlaviyoConfig(api_key="pk_x", revision=revision).revision == revision


@pytest.mark.parametrize("revision", ["v3", "2024-13-01", "2024-10", "latest"])
def test_anything_but_a_dated_revision_is_refused(revision: str) -> None:
    with pytest.raises(ValueError, match="dated Klaviyo API revision"):
        KlaviyoConfig(api_key="pk_x", revision=revision)
