"""End to end through ``spokehub serve``: consent recorded once and honoured everywhere.

- Segment's ``context.consent`` denying advertising: the ad destination (a files
  connection serving ``ads_personalization``) gets no further sends for that person, each
  one recorded as suppressed for the purpose, while another person's sends go on.
- An unsubscribe in the Klaviyo sandbox, pushed by its signed consent webhook: the
  HubSpot sandbox has the contact's address unsubscribed, and the onboarding e-mail the
  route would send to Klaviyo is held back, recorded as suppressed.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox
from spokehub_klaviyo.testing import SANDBOX_API_KEY, KlaviyoSandbox

from .daemon import ADMIN, WRITE_KEY, Daemon, free_port, wait_until

AUTH = {"Authorization": f"Bearer {ADMIN}"}
SECRET = "whsec-e2e-klaviyo-0123456789"


def _write(tmp_path: Path, port: int, connections: dict, routes: list, **extra: Any) -> Path:
    path = tmp_path / "spokehub.yaml"
    project = {
        "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
        "server": {"host": "127.0.0.1", "port": port, "admin_token": ADMIN},
        "connections": {"web": {"kind": "source", "write_keys": [WRITE_KEY]}, **connections},
        "routes": routes,
        **extra,
    }
    path.write_text(yaml.safe_dump(project))
    return path


def _send(daemon: Daemon, *calls: dict) -> None:
    response = httpx.post(
        f"{daemon.url}/v1/batch", json={"batch": list(calls)}, auth=(WRITE_KEY, ""), timeout=10
    )
    assert response.status_code == 200, response.text


def _lane(daemon: Daemon, name: str) -> dict:
    lanes = httpx.get(f"{daemon.url}/v1/deliveries/status", headers=AUTH, timeout=10).json()
    return next((lane for lane in lanes if lane["connection"] == name), {})


def _lines(path: Path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _events(path: Path, user: str) -> list[str]:
    return [
        line["event"]["event"]
        for line in _lines(path)
        if line.get("kind") == "event" and line["event"].get("user_id") == user
    ]


def test_context_consent_denying_advertising_stops_the_ad_destination(tmp_path: Path) -> None:
    port = free_port()
    ads_file = tmp_path / "ads.jsonl"
    config = _write(
        tmp_path,
        port,
        {
            "ads": {
                "kind": "destination",
                "spoke": "files",
                "config": {"path": str(ads_file)},
                "purposes": ["ads_personalization"],
            }
        },
        [{"to": "ads", "kinds": ["upsert_person", "event"]}],
        consent={"categories": {"Advertising": "ads_personalization", "Analytics": "analytics"}},
    )
    daemon = Daemon(config, port, plugins="files").start()
    try:
        granted = {"consent": {"categoryPreferences": {"Advertising": True, "Analytics": True}}}
        _send(
            daemon,
            {"type": "identify", "userId": "u-ada", "traits": {"email": "ada@example.com"}},
            {"type": "track", "userId": "u-ada", "event": "Viewed Product", "context": granted},
            {"type": "track", "userId": "u-bo", "event": "Viewed Product"},
        )
        wait_until(lambda: len(_events(ads_file, "u-ada")) == 1 and _events(ads_file, "u-bo"))
        assert _events(ads_file, "u-ada") == ["Viewed Product"]

        denied = {"consent": {"categoryPreferences": {"Advertising": False, "Analytics": True}}}
        _send(
            daemon,
            {"type": "track", "userId": "u-ada", "event": "Added to Cart", "context": denied},
            {"type": "track", "userId": "u-ada", "event": "Order Completed"},
            {"type": "identify", "userId": "u-ada", "traits": {"plan": "gold"}},
            {"type": "track", "userId": "u-bo", "event": "Order Completed"},
        )
        wait_until(
            lambda: (
                _lane(daemon, "ads").get("suppressed", 0) >= 3
                and "Order Completed" in _events(ads_file, "u-bo")
            )
        )
        lane = _lane(daemon, "ads")
        profile = httpx.get(
            f"{daemon.url}/v1/profiles", params={"identifier": "user_id:u-ada"}, headers=AUTH
        ).json()["profile"]
        metrics = httpx.get(f"{daemon.url}/metrics", headers=AUTH, timeout=10).text
    finally:
        assert daemon.stop() == 0

    # Nothing of Ada's after the denial reached the ad destination but the denial itself.
    assert _events(ads_file, "u-ada") == ["Viewed Product"]
    assert _events(ads_file, "u-bo") == ["Viewed Product", "Order Completed"]
    consent_lines = [line for line in _lines(ads_file) if line.get("kind") == "consent"]
    assert [(c["consent"]["purpose"], c["consent"]["granted"]) for c in consent_lines] == [
        ("ads_personalization", True),
        ("analytics", True),
        ("ads_personalization", False),
    ]
    # The denied call, the order and the identify's upsert: each recorded with the purpose.
    assert lane["suppressed"] == 3
    assert lane["suppressed_by_purpose"] == {"ads_personalization": 3}
    assert 'spokehub_outbox_suppressed{destination="ads",purpose="ads_personalization"} 3.0' in (
        metrics
    )
    assert profile["consents"]["ads_personalization"]["granted"] is False
    assert profile["consents"]["analytics"]["granted"] is True
    history = [(e["purpose"], e["granted"]) for e in profile["consent_history"]]
    assert history == [
        ("ads_personalization", True),
        ("analytics", True),
        ("ads_personalization", False),
    ]
    assert all(e["source"] == "web" and e["evidence"] for e in profile["consent_history"])


def test_an_unsubscribe_in_klaviyo_opts_the_contact_out_in_hubspot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KLAVIYO_API_KEY", SANDBOX_API_KEY)
    monkeypatch.setenv("HUBSPOT_ACCESS_TOKEN", SANDBOX_ACCESS_TOKEN)
    monkeypatch.setenv("KLAVIYO_WEBHOOK_SECRET", SECRET)
    port = free_port()
    with KlaviyoSandbox() as klaviyo, HubSpotSandbox() as hubspot:
        config = _write(
            tmp_path,
            port,
            {
                "klaviyo-consent": {
                    "kind": "source",
                    "spoke": "klaviyo",
                    "config": {"webhook_secret": "${KLAVIYO_WEBHOOK_SECRET}"},
                },
                "email": {
                    "kind": "destination",
                    "spoke": "klaviyo",
                    "config": {"base_url": klaviyo.url, "api_key": "${KLAVIYO_API_KEY}"},
                },
                "crm": {
                    "kind": "destination",
                    "spoke": "hubspot",
                    "config": {
                        "base_url": hubspot.url,
                        "access_token": "${HUBSPOT_ACCESS_TOKEN}",
                        "subscription_ids": {"email_marketing": "7"},
                    },
                },
            },
            [
                {"to": "email", "kinds": ["upsert_person", "event"], "events": ["Onboarding Due"]},
                {"to": "crm", "kinds": ["upsert_person"]},
            ],
        )
        daemon = Daemon(config, port, plugins="klaviyo,hubspot").start()
        try:
            _send(
                daemon,
                {"type": "identify", "userId": "u-ada", "traits": {"email": "ada@example.com"}},
                {"type": "identify", "userId": "u-bo", "traits": {"email": "bo@example.com"}},
            )
            wait_until(
                lambda: (
                    hubspot.contact("ada@example.com") and klaviyo.find("email", "ada@example.com")
                )
            )
            # Ada unsubscribes in Klaviyo; Klaviyo's system webhook tells the hub.
            klaviyo.unsubscribe("ada@example.com")
            answer = klaviyo.send_consent_webhooks(
                f"{daemon.url}/v1/webhooks/klaviyo-consent", SECRET
            )
            assert answer is not None and answer.status_code == 200, answer and answer.text
            # A forged one is refused before anything is stored.
            forged = httpx.post(
                f"{daemon.url}/v1/webhooks/klaviyo-consent",
                content=klaviyo.consent_webhook(),
                headers={"Klaviyo-Signature": "0" * 64, "Klaviyo-Timestamp": "1"},
            )
            assert forged.status_code == 401
            wait_until(lambda: hubspot.subscription("ada@example.com", "7") == "NOT_SUBSCRIBED")

            onboarding = {"recommended_products": [{"sku": "TEA-01"}]}
            _send(
                daemon,
                {
                    "type": "track",
                    "userId": "u-ada",
                    "event": "Onboarding Due",
                    "properties": onboarding,
                },
                {
                    "type": "track",
                    "userId": "u-bo",
                    "event": "Onboarding Due",
                    "properties": onboarding,
                },
            )
            wait_until(
                lambda: (
                    klaviyo.events_of("bo@example.com", "Onboarding Due")
                    and _lane(daemon, "email").get("suppressed", 0) >= 1
                )
            )
            lane = _lane(daemon, "email")
            crm = _lane(daemon, "crm")
            profile = httpx.get(
                f"{daemon.url}/v1/profiles",
                params={"identifier": "email:ada@example.com"},
                headers=AUTH,
            ).json()["profile"]
        finally:
            assert daemon.stop() == 0

    assert hubspot.subscription("ada@example.com", "7") == "NOT_SUBSCRIBED"
    assert hubspot.subscription("bo@example.com", "7") is None
    # No marketing e-mail for Ada; Bo's goes out.
    assert klaviyo.events_of("ada@example.com", "Onboarding Due") == []
    assert len(klaviyo.events_of("bo@example.com", "Onboarding Due")) == 1
    # The onboarding event, and any later upsert of Ada (the CRM's id written back to
    # her profile is one): all held back for the one purpose.
    assert set(lane["suppressed_by_purpose"]) == {"email_marketing"}
    assert lane["suppressed"] >= 1
    # The unsubscribe also went to Klaviyo itself (it keeps a status too) and to the CRM.
    assert klaviyo.consent_of("ada@example.com") == "UNSUBSCRIBED"
    assert crm["dead"] == 0 and crm["suppressed"] == 0
    [entry] = profile["consent_history"]
    assert (entry["purpose"], entry["granted"], entry["source"]) == (
        "email_marketing",
        False,
        "klaviyo-consent",
    )
    assert entry["evidence"].startswith("evt_")
    assert {i["type"] for i in profile["identifiers"]} >= {"email", "user_id", "klaviyo:profile_id"}


def test_a_scheduled_pull_brings_klaviyo_unsubscribes_in(tmp_path: Path, run_cli) -> None:
    """For accounts without webhooks: ``spokehub sync run`` pulls the consent events,
    the pipeline records them, and a second pull brings only what is new."""
    with KlaviyoSandbox() as klaviyo:
        _write(
            tmp_path,
            free_port(),
            {
                "klaviyo-pull": {
                    "kind": "source",
                    "spoke": "klaviyo",
                    "schedule": 300,
                    "config": {"base_url": klaviyo.url, "api_key": SANDBOX_API_KEY},
                }
            },
            [],
        )
        env = {"SPOKEHUB_PLUGINS": "klaviyo"}
        assert run_cli("db", "upgrade", env=env).returncode == 0
        klaviyo.unsubscribe("ada@example.com")
        pulled = run_cli("sync", "run", "klaviyo-pull", env=env)
        assert pulled.returncode == 0, pulled.stderr
        assert run_cli("pipeline", "run", "--once", env=env).returncode == 0
        shown = run_cli("profiles", "show", "email:ada@example.com", "--json", env=env)
        assert shown.returncode == 0, shown.stderr
        view = json.loads(shown.stdout)
        assert view["consents"]["email_marketing"]["granted"] is False
        assert view["consents"]["email_marketing"]["source"] == "klaviyo-pull"
        profile = klaviyo.find("email", "ada@example.com")
        assert profile is not None
        # A second later at least: Klaviyo's times are whole seconds, and at the same
        # second the earlier denial would win the tie.
        later = datetime.now(UTC) + timedelta(seconds=2)
        klaviyo.set_consent(profile["id"], "email", "SUBSCRIBED", at=later)
        assert run_cli("sync", "run", "klaviyo-pull", env=env).returncode == 0
        assert run_cli("pipeline", "run", "--once", env=env).returncode == 0
        view = json.loads(
            run_cli("profiles", "show", "email:ada@example.com", "--json", env=env).stdout
        )
    assert view["consents"]["email_marketing"]["granted"] is True
    assert [e["granted"] for e in view["consent_history"]] == [False, True]
