"""The property mapping and the config around it: paths into the change, values in
HubSpot's text forms, domains, audience property names, API paths, and config errors
that name the field and the rule."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from spokehub_contracts import Identifier, Person, UpsertPerson
from spokehub_hubspot import (
    DEFAULT_CONTACT_PROPERTIES,
    HubSpotApi,
    HubSpotConfig,
    audience_property,
    contact_email,
    domain_of,
    property_value,
    read_path,
)

TOKEN = "pat-na1-test"


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("Ada", "Ada"),
        ("  ", None),
        (None, None),
        (True, "true"),
        (False, "false"),
        (42, "42"),
        (42.5, "42.5"),
        (Decimal("19.99"), "19.99"),
        (date(1815, 12, 10), "1815-12-10"),
        (datetime(2026, 3, 10, 14, 30, tzinfo=UTC), "2026-03-10T14:30:00.000Z"),
        (
            datetime(2026, 3, 10, 15, 30, tzinfo=timezone(timedelta(hours=1))),
            "2026-03-10T14:30:00.000Z",
        ),
        (datetime(2026, 3, 10, 14, 30), "2026-03-10T14:30:00.000Z"),
        (["Shoe", "Sock"], "Shoe;Sock"),
        ([], None),
        ([{"sku": "S-1"}], '[{"sku":"S-1"}]'),
        ({"tier": "gold"}, '{"tier":"gold"}'),
    ],
)
def test_values_take_hubspots_text_forms(value: Any, text: str | None) -> None:
    assert property_value(value) == text


def test_paths_read_nested_values_and_through_lists() -> None:
    source = {
        "address": {"city": "London"},
        "properties": {"products": [{"name": "Shoe"}, {"name": "Sock"}, {"price": 1}]},
    }
    assert read_path(source, "address.city") == "London"
    assert read_path(source, "properties.products.name") == ["Shoe", "Sock"]
    assert read_path(source, "address.street") is None
    assert read_path(source, "nowhere.at.all") is None


@pytest.mark.parametrize(
    ("text", "domain"),
    [
        ("acme.com", "acme.com"),
        ("https://www.Acme.com/about?x=1", "acme.com"),
        ("www.acme.co.uk", "acme.co.uk"),
        ("http://shop.acme.com:8080", "shop.acme.com"),
        ("acct-42", None),
        ("", None),
        ("not a domain", None),
        (None, None),
    ],
)
def test_domains_come_from_urls_and_hosts(text: str | None, domain: str | None) -> None:
    assert domain_of(text) == domain


def test_audience_properties_are_named_in_hubspots_form() -> None:
    assert audience_property("recent_buyers", {}) == "recent_buyers"
    assert audience_property("VIP Customers!", {}) == "vip_customers"
    assert audience_property("2026 buyers", {}) == "audience_2026_buyers"
    assert audience_property("2026 buyers", {}, "seg_") == "seg_2026_buyers"
    assert audience_property("churn", {"churn": "likely_churner"}) == "likely_churner"


def test_the_contact_is_found_by_the_persons_email_first() -> None:
    change = UpsertPerson(
        item_id="1",
        identifiers=(Identifier(type="email", value="old@example.com"),),
        person=Person(email=" Ada@Example.COM "),
    )
    assert contact_email(change) == "ada@example.com"
    broken = change.model_copy(update={"person": Person(email="not an address")})
    assert contact_email(broken) == "old@example.com"


def test_mappings_merge_over_the_defaults() -> None:
    config = HubSpotConfig(
        access_token=TOKEN,
        properties={"plan_tier": "attributes.plan", "date_of_birth": None, "city": "address.state"},
    )
    mapping = config.contact_mapping()
    assert mapping["plan_tier"] == "attributes.plan"
    assert "date_of_birth" not in mapping
    assert mapping["city"] == "address.state"
    assert mapping["firstname"] == DEFAULT_CONTACT_PROPERTIES["firstname"]
    assert HubSpotConfig(access_token=TOKEN, events={"Order Completed": {}}).event_mappings() == {}


@pytest.mark.parametrize(
    ("config", "field", "rule"),
    [
        ({"properties": {"Plan Tier": "attributes.plan"}}, "properties", "internal name"),
        ({"properties": {"plan": "plan"}}, "properties", "start with one of"),
        ({"properties": {"plan": "attributes..plan"}}, "properties", "no path"),
        ({"company_properties": {"tier": "scores.x"}}, "company_properties", "an account"),
        ({"events": {"Order Completed": {"x": "order_id"}}}, "events", "Order Completed"),
        ({"audience_properties": {"vip": "VIP"}}, "audience_properties", "property"),
        ({"api_version": "v4"}, "api_version", "2026-03"),
        ({"api_version": "2026-13"}, "api_version", "2026-03"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "IANA"),
        ({"association_type_id": 0}, "association_type_id", "greater than 0"),
    ],
)
def test_config_errors_name_the_field_and_the_rule(
    config: dict[str, Any], field: str, rule: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        HubSpotConfig.model_validate({"access_token": TOKEN, **config})
    message = str(caught.value)
    assert field in message and rule in message
    assert TOKEN not in message


def test_the_token_stays_secret() -> None:
    config = HubSpotConfig(access_token=TOKEN)
    assert TOKEN not in repr(config) and TOKEN not in config.model_dump_json()


def test_paths_of_the_numbered_and_the_dated_api() -> None:
    legacy, dated = HubSpotApi("v3"), HubSpotApi("2026-03")
    assert legacy.batch("contacts", "upsert") == "/crm/v3/objects/contacts/batch/upsert"
    assert dated.batch("contacts", "upsert") == "/crm/objects/2026-03/contacts/batch/upsert"
    assert legacy.gdpr_delete() == "/crm/v3/objects/contacts/gdpr-delete"
    assert dated.gdpr_delete() == "/crm/objects/2026-03/contacts/gdpr-delete"
    assert legacy.associations("contacts", "companies", "create") == (
        "/crm/v4/associations/contacts/companies/batch/create"
    )
    assert dated.associations("contacts", "companies", "create") == (
        "/crm/associations/2026-03/contacts/companies/batch/create"
    )
    assert legacy.search("companies") == "/crm/v3/objects/companies/search"
    assert dated.merge("contacts") == "/crm/objects/2026-03/contacts/merge"
    assert legacy.properties("contacts") == "/crm/v3/properties/contacts"
    assert dated.properties("contacts") == "/crm/properties/2026-03/contacts"
    with pytest.raises(ValueError, match="not a HubSpot API version"):
        HubSpotApi("v4")
