"""End to end through ``spokehub serve``: an identify, a group call and an order in, and
in the HubSpot sandbox the contact with its mapped properties and order facts, the
company found by domain and the association between them, with the access token taken
from the environment."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import yaml

from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox

from .daemon import ADMIN, WRITE_KEY, Daemon, free_port, wait_until


def _project(tmp_path: Path, port: int, url: str) -> Path:
    path = tmp_path / "spokehub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
                "server": {"host": "127.0.0.1", "port": port, "admin_token": ADMIN},
                "connections": {
                    "web": {"kind": "source", "write_keys": [WRITE_KEY]},
                    "crm": {
                        "kind": "destination",
                        "spoke": "hubspot",
                        "config": {
                            "base_url": url,
                            "access_token": "${HUBSPOT_ACCESS_TOKEN}",
                            "properties": {"plan_tier": "attributes.plan"},
                        },
                    },
                },
                "routes": [
                    {
                        "to": "crm",
                        "kinds": ["upsert_person", "upsert_account", "upsert_membership", "event"],
                        "events": ["Order Completed"],
                    }
                ],
            }
        )
    )
    return path


def test_an_identify_reaches_hubspot_as_a_contact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", SANDBOX_ACCESS_TOKEN)
    port = free_port()
    with HubSpotSandbox() as hubspot:
        daemon = Daemon(_project(tmp_path, port, hubspot.url), port, plugins="hubspot").start()
        try:
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
            answer = httpx.post(
                f"{daemon.url}/v1/batch", json={"batch": calls}, auth=(WRITE_KEY, ""), timeout=10
            )
            assert answer.status_code == 200, answer.text

            def arrived() -> bool:
                contact = hubspot.contact("ada@example.com")
                return bool(
                    contact
                    and contact["properties"].get("last_order_id")
                    and hubspot.companies_of(contact["id"])
                )

            wait_until(arrived)
        finally:
            assert daemon.stop() == 0
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
