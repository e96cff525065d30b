"""End to end through ``spokehub serve``: an identify and an "Onboarding Due" event with
the model's product recommendations in, and in the Klaviyo sandbox the profile with its
traits and the event on it, with the API key taken from the environment."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from spokehub_klaviyo.testing import SANDBOX_API_KEY, KlaviyoSandbox

from .daemon import wait_until
from .serving import send, serving

ROUTES = [{"to": "email", "kinds": ["upsert_person", "event"], "events": ["Onboarding Due"]}]


def _email(url: str) -> dict[str, Any]:
    config = {"base_url": url, "api_key": "${KLAVIYO_API_KEY}"}
    return {"email": {"spoke": "klaviyo", "config": config}}


def test_an_identify_and_an_onboarding_event_reach_klaviyo(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAVIYO_API_KEY", SANDBOX_API_KEY)
    recommended = [{"sku": "TEA-01", "score": 0.91}, {"sku": "POT-02", "score": 0.77}]
    with KlaviyoSandbox() as sandbox, serving(tmp_path, _email(sandbox.url), ROUTES) as daemon:
        send(
            daemon,
            {
                "type": "identify",
                "userId": "u-ada",
                "traits": {"email": "Ada@Example.com", "firstName": "Ada", "plan": "gold"},
            },
            {
                "type": "track",
                "userId": "u-ada",
                "event": "Onboarding Due",
                "messageId": "onboarding-u-ada",
                "properties": {"recommended_products": recommended},
            },
            {"type": "track", "userId": "u-ada", "event": "Page Scrolled"},
        )
        wait_until(
            lambda: (
                sandbox.events
                and (sandbox.profile_by_email("ada@example.com") or {})
                .get("attributes", {})
                .get("first_name")
            )
        )
    profile = sandbox.profile_by_email("ada@example.com")
    assert profile is not None, sandbox.requests
    assert profile["attributes"]["first_name"] == "Ada"
    assert profile["attributes"]["external_id"] == "u-ada"
    assert profile["attributes"]["properties"]["plan"] == "gold"
    [event] = sandbox.events
    assert event["metric"] == "Onboarding Due" and event["profile_id"] == profile["id"]
    assert event["properties"]["recommended_products"] == recommended
    assert event["unique_id"] == "onboarding-u-ada"
    assert len(sandbox.profiles) == 1
    assert {r.headers["Authorization"] for r in sandbox.requests} == {
        f"Klaviyo-API-Key {SANDBOX_API_KEY}"
    }
