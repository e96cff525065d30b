"""End to end through ``spokehub serve``, the webshop's tools at once: one identify in, and
the contact in the HubSpot sandbox, the profile in the Klaviyo sandbox, the rows in
PostgreSQL and a signed batch at a webhook receiver whose signature verifies. HubSpot's
contact id comes back to the hub as an identifier through the inbox: the warehouse gets
it with the next profile change, HubSpot never hears of it again. A consent recorded once
reaches the CRM's and the e-mail tool's subscriptions."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox
from spokehub_klaviyo.testing import SANDBOX_API_KEY, KlaviyoSandbox
from spokehub_webhook.testing import SANDBOX_SECRET, WebhookReceiverSandbox

from .daemon import wait_until
from .serving import send, serving
from .test_webhook_e2e import signature

ROUTES = [
    {"to": "crm", "kinds": ["upsert_person"]},
    {"to": "email", "kinds": ["upsert_person"]},
    {"to": "warehouse", "kinds": ["upsert_person", "event"]},
    {"to": "order_tool", "kinds": ["upsert_person"]},
]


@pytest.fixture
def warehouse(pg_server: str) -> Iterator[tuple[str, str]]:
    """The server's URL for libpq and a schema of this test's own, dropped afterwards."""
    url = pg_server.replace("postgresql+psycopg://", "postgresql://")
    schema = f"e2e_{uuid.uuid4().hex[:12]}"
    try:
        yield url, schema
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _rows(url: str, query: str) -> list[tuple[Any, ...]]:
    try:
        with psycopg.connect(url) as conn:
            return conn.execute(query).fetchall()
    except psycopg.errors.UndefinedTable:
        return []


@pytest.mark.postgres
def test_an_identify_reaches_every_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse: tuple[str, str]
) -> None:
    url, schema = warehouse
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", SANDBOX_ACCESS_TOKEN)
    monkeypatch.setenv("KLAVIYO_API_KEY", SANDBOX_API_KEY)
    monkeypatch.setenv("WAREHOUSE_URL", url)
    monkeypatch.setenv("ORDER_TOOL_WEBHOOK_SECRET", SANDBOX_SECRET)
    identifiers = f'SELECT type, value, contact_id FROM "{schema}".identifiers ORDER BY 1'
    with (
        HubSpotSandbox() as hubspot,
        KlaviyoSandbox() as klaviyo,
        WebhookReceiverSandbox() as receiver,
    ):
        destinations = {
            "crm": {
                "spoke": "hubspot",
                "config": {"base_url": hubspot.url, "access_token": "${HUBSPOT_ACCESS_TOKEN}"},
            },
            "email": {
                "spoke": "klaviyo",
                "config": {"base_url": klaviyo.url, "api_key": "${KLAVIYO_API_KEY}"},
            },
            "warehouse": {
                "spoke": "postgres",
                "config": {"url": "${WAREHOUSE_URL}", "schema": schema},
            },
            "order_tool": {
                "spoke": "webhook",
                "config": {
                    "url": receiver.url + "/hooks/spokehub",
                    "secret": "${ORDER_TOOL_WEBHOOK_SECRET}",
                },
            },
        }
        with serving(tmp_path, destinations, ROUTES) as daemon:
            send(
                daemon,
                {
                    "type": "identify",
                    "userId": "u-ada",
                    "traits": {
                        "email": "Ada@Example.com",
                        "firstName": "Ada",
                        "loyalty_tier": "gold",
                    },
                },
            )

            def everywhere() -> bool:
                return bool(
                    hubspot.contact("ada@example.com")
                    and klaviyo.profile_by_email("ada@example.com")
                    and receiver.messages
                    and any(t == "hubspot:contact_id" for t, _, _ in _rows(url, identifiers))
                )

            wait_until(everywhere)

    contact = hubspot.contact("ada@example.com")
    assert contact is not None, [(r.method, r.path, r.status) for r in hubspot.requests]
    assert contact["properties"]["firstname"] == "Ada"
    # The write-back's profile change went everywhere but HubSpot: one upsert there.
    assert len([r for r in hubspot.requests if r.path.endswith("contacts/batch/upsert")]) == 1

    profile = klaviyo.profile_by_email("ada@example.com")
    assert profile is not None and profile["attributes"]["first_name"] == "Ada"
    assert profile["attributes"]["properties"]["loyalty_tier"] == "gold"

    [(first_name, tier, contact_id)] = _rows(
        url, f'SELECT first_name, loyalty_tier, contact_id FROM "{schema}".persons'
    )
    assert (first_name, tier) == ("Ada", "gold")
    assert set(_rows(url, identifiers)) == {
        ("email", "ada@example.com", contact_id),
        ("hubspot:contact_id", contact["id"], contact_id),
        ("user_id", "u-ada", contact_id),
    }

    assert receiver.refused == []
    delivered = [r for r in receiver.requests if r.status == 200]
    assert delivered
    for request in delivered:
        assert request.headers["webhook-signature"] == signature(request.headers, request.body)


def test_a_consent_change_reaches_the_crm_and_the_email_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Recorded once (``POST /v1/consent``), honoured everywhere: the e-mail marketing
    subscription in Klaviyo (bulk subscription jobs) and HubSpot (the mapped subscription
    type), granted and then withdrawn."""
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", SANDBOX_ACCESS_TOKEN)
    monkeypatch.setenv("KLAVIYO_API_KEY", SANDBOX_API_KEY)
    routes = [
        {"to": "crm", "kinds": ["upsert_person", "consent"]},
        {"to": "email", "kinds": ["upsert_person", "consent"]},
    ]
    with HubSpotSandbox() as hubspot, KlaviyoSandbox() as klaviyo:
        destinations = {
            "crm": {
                "spoke": "hubspot",
                "config": {
                    "base_url": hubspot.url,
                    "access_token": "${HUBSPOT_ACCESS_TOKEN}",
                    "subscription_ids": {"email_marketing": "7"},
                },
            },
            "email": {
                "spoke": "klaviyo",
                "config": {"base_url": klaviyo.url, "api_key": "${KLAVIYO_API_KEY}"},
            },
        }
        with serving(tmp_path, destinations, routes) as daemon:
            send(
                daemon,
                {"type": "identify", "userId": "u-ada", "traits": {"email": "ada@example.com"}},
            )
            wait_until(lambda: klaviyo.profile_by_email("ada@example.com"))

            def decide(granted: bool) -> None:
                daemon.decide_consent("email:ada@example.com", "email_marketing", granted)

            decide(True)
            wait_until(
                lambda: (
                    klaviyo.consent_of("ada@example.com") == "SUBSCRIBED"
                    and hubspot.subscription("ada@example.com", "7") == "SUBSCRIBED"
                )
            )
            assert klaviyo.consent_of("ada@example.com") == "SUBSCRIBED"
            assert hubspot.subscription("ada@example.com", "7") == "SUBSCRIBED"
            decide(False)
            wait_until(
                lambda: (
                    klaviyo.consent_of("ada@example.com") == "UNSUBSCRIBED"
                    and hubspot.subscription("ada@example.com", "7") == "NOT_SUBSCRIBED"
                )
            )
    assert klaviyo.consent_of("ada@example.com") == "UNSUBSCRIBED"
    assert hubspot.subscription("ada@example.com", "7") == "NOT_SUBSCRIBED"


@pytest.mark.postgres
def test_two_contacts_the_hub_finds_to_be_one_person_are_merged_in_the_tools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, warehouse: tuple[str, str]
) -> None:
    """The hub merges two profiles; HubSpot, which holds a contact for each, gets a merge
    (``POST /crm/v3/objects/contacts/merge``) of the absorbed contact into the survivor's,
    by the contact ids it answered, and keeps one contact; the warehouse moves the
    absorbed contact's events to the survivor and notes the old ID."""
    url, schema = warehouse
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", SANDBOX_ACCESS_TOKEN)
    monkeypatch.setenv("WAREHOUSE_URL", url)
    routes = [
        {"to": "crm", "kinds": ["upsert_person"]},
        {"to": "warehouse", "kinds": ["upsert_person", "event"]},
    ]
    merged_ids = f'SELECT absorbed_contact_id, contact_id FROM "{schema}".contact_merges'
    with HubSpotSandbox() as hubspot:
        destinations = {
            "crm": {
                "spoke": "hubspot",
                "config": {"base_url": hubspot.url, "access_token": "${HUBSPOT_ACCESS_TOKEN}"},
            },
            "warehouse": {
                "spoke": "postgres",
                "config": {"url": "${WAREHOUSE_URL}", "schema": schema},
            },
        }
        with serving(tmp_path, destinations, routes) as daemon:
            work = {"type": "identify", "userId": "u-ada", "traits": {"email": "ada@work.example"}}
            send(daemon, work)
            wait_until(lambda: hubspot.contact("ada@work.example"))
            home = {
                "type": "identify",
                "anonymousId": "B1",
                "traits": {"email": "ada@home.example"},
            }
            browsing = {"type": "track", "anonymousId": "B1", "event": "Product Viewed"}
            send(daemon, home, browsing)
            wait_until(
                lambda: (
                    hubspot.contact("ada@home.example")
                    and _rows(url, f'SELECT id FROM "{schema}".tracks')
                )
            )
            first = hubspot.contact("ada@work.example")
            second = hubspot.contact("ada@home.example")
            assert first and second and first["id"] != second["id"]
            # One call names both: the hub learns they are one person.
            send(daemon, {"type": "identify", "userId": "u-ada", "anonymousId": "B1"})
            wait_until(lambda: len(hubspot.contacts) == 1 and _rows(url, merged_ids))
    merges = [r for r in hubspot.requests if r.path.endswith("/contacts/merge")]
    assert [r.status for r in merges] == [200], [(r.method, r.path) for r in hubspot.requests]
    # The older profile survives: the home contact is folded into the work contact.
    assert json.loads(merges[0].body) == {
        "primaryObjectId": first["id"],
        "objectIdToMerge": second["id"],
    }
    [merged] = hubspot.contacts.values()
    assert merged["id"] == first["id"]
    assert merged["properties"]["hs_merged_object_ids"] == second["id"]
    # The survivor's upsert that follows the merge finds it, by whichever address it has.
    assert hubspot.contact(merged["properties"]["email"]) == merged

    [(absorbed, survivor)] = _rows(url, merged_ids)
    assert _rows(url, f'SELECT contact_id, event FROM "{schema}".tracks') == [
        (survivor, "Product Viewed")
    ]
    assert _rows(url, f'SELECT contact_id FROM "{schema}".persons') == [(survivor,)]
    assert absorbed != survivor
