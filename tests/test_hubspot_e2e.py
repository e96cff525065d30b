"""End to end through ``spokehub serve``: an identify, a group call and an order in, and
in the HubSpot sandbox the contact with its mapped properties and order facts, the
company found by domain and the association between them, with the access token taken
from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox

from .daemon import wait_until
from .serving import send, serving


def _crm(url: str) -> dict[str, Any]:
    config = {
        "base_url": url,
        "access_token": "${HUBSPOT_ACCESS_TOKEN}",
        "properties": {"plan_tier": "attributes.plan"},
    }
    return {"crm": {"spoke": "hubspot", "config": config}}


ROUTES = [
    {
        "to": "crm",
        "kinds": ["upsert_person", "upsert_account", "upsert_membership", "event"],
        "events": ["Order Completed"],
    }
]


def test_an_identify_reaches_hubspot_as_a_contact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", SANDBOX_ACCESS_TOKEN)
    with HubSpotSandbox() as hubspot, serving(tmp_path, _crm(hubspot.url), ROUTES) as daemon:
        calls = [
            {
                "type": "identify",
                "userId": "u-ada",
                "traits": {
                    "email": "Ada@Example.com",
                    "firstName": "Ada",
                    "lastName": "Lovelace",
                    "plan": "gold",
                },
            },
            {
                "type": "group",
                "userId": "u-ada",
                "groupId": "acct-acme",
                "traits": {"name": "Acme", "website": "https://www.acme.com"},
            },
            {
                "type": "track",
                "userId": "u-ada",
                "event": "Order Completed",
                "properties": {"order_id": "o-1001", "total": 99.5, "currency": "EUR"},
            },
        ]
        send(daemon, *calls)

        def arrived() -> bool:
            contact = hubspot.contact("ada@example.com")
            return bool(
                contact
                and contact["properties"].get("last_order_id")
                and hubspot.companies_of(contact["id"])
            )

        wait_until(arrived)
    contact = hubspot.contact("ada@example.com")
    assert contact is not None, [(r.method, r.path, r.status) for r in hubspot.requests]
    properties = contact["properties"]
    assert properties["email"] == "ada@example.com"
    assert properties["firstname"] == "Ada" and properties["lastname"] == "Lovelace"
    assert properties["plan_tier"] == "gold"
    assert properties["last_order_id"] == "o-1001"
    assert properties["last_order_total"] == "99.5"
    acme = hubspot.company("acme.com")
    assert acme is not None and acme["properties"]["name"] == "Acme"
    assert hubspot.companies_of(contact["id"]) == {acme["id"]}
    assert len(hubspot.contacts) == 1
    assert {r.status for r in hubspot.requests} <= {200, 201}
    for request in hubspot.requests:
        assert request.headers["authorization"] == f"Bearer {SANDBOX_ACCESS_TOKEN}"
