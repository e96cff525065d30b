"""End to end: the webshop scenario of ``make demo`` (``examples/webshop``), run by the
demo's own modules against the sandboxes and a real ``spokehub serve``, and held to what
each tool received."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from demo.webshop.story import EMAIL, EMAIL_HASH, EXAMPLE, LOOKALIKE, Scenario
from demo.webshop.tools import Tools
from spokehub_contracts.testing import Sandbox


def _bodies(sandbox: Sandbox, suffix: str, method: str = "POST") -> list[Any]:
    return [
        r.json()
        for r in sandbox.requests
        if r.path.endswith(suffix) and r.method == method and r.body and (r.status or 0) < 300
    ]


def _hubspot_inputs(tools: Tools) -> list[dict[str, Any]]:
    return [
        item["properties"]
        for body in _bodies(tools.hubspot, "/contacts/batch/upsert")
        for item in body["inputs"]
        if item["properties"].get("email") == EMAIL or item.get("id") == EMAIL
    ]


def _klaviyo_events(tools: Tools, metric: str) -> list[dict[str, Any]]:
    found = []
    for body in _bodies(tools.klaviyo, "/api/events"):
        attributes = body["data"]["attributes"]
        profile = attributes["profile"]["data"]["attributes"]
        name = attributes["metric"]["data"]["attributes"]["name"]
        if name == metric and profile.get("email") == EMAIL:
            found.append(attributes["properties"])
    return found


def _meta_changes(tools: Tools) -> list[tuple[str, str]]:
    """(method, audience name) of every request to Meta that carried the buyer's hash."""
    changes = []
    for r in tools.meta.requests:
        if r.path.endswith("/users") and (r.status or 0) < 300 and EMAIL_HASH in r.body.decode():
            audience = tools.meta.audiences[r.params["audience_id"]]["name"]
            changes.append((r.method, audience))
    return changes


def test_the_webshop_scenario_reaches_every_tool(tmp_path: Path) -> None:
    with Tools() as tools:
        facts = Scenario(tmp_path, tools).run()

        # The CRM: the contact with the first order at once, then the second; opted out.
        orders = [p["last_order_id"] for p in _hubspot_inputs(tools) if "last_order_id" in p]
        assert orders == [facts.order_id, facts.second_order_id]
        named = [p for p in _hubspot_inputs(tools) if p.get("firstname")]
        assert named and named[0]["lastname"] == "Jackson"
        unsubscribed = _bodies(tools.hubspot, "/communication-preferences/v3/unsubscribe")
        assert [b["subscriptionId"] for b in unsubscribed if b["emailAddress"] == EMAIL] == ["7"]

        # Meta: in prospects (the model) and retargeting (a view), out of both and into
        # the seed on the order; hashed only; the lookalike made once from the seed.
        changes = _meta_changes(tools)
        assert changes.index(("POST", "customers")) > changes.index(("POST", "retargeting"))
        assert ("DELETE", "retargeting") in changes and ("DELETE", "prospects") in changes
        assert changes.count(("POST", "customers")) == 1
        assert all(EMAIL not in r.body.decode() for r in tools.meta.requests if r.body)
        lookalike = tools.meta.audience_named(LOOKALIKE, "LOOKALIKE")
        assert lookalike["id"] == facts.lookalike_id
        assert lookalike["origin_audience_id"] == tools.meta.audience_named("customers")["id"]

        # Klaviyo: one onboarding event, three days on, with the data team's
        # recommendations; the second order, after the unsubscribe, held back.
        scores = [json.loads(line) for line in (EXAMPLE / "models" / "scores.jsonl").open()]
        expected = next(s["recommended_products"] for s in scores if s["email"] == EMAIL)
        (onboarding,) = _klaviyo_events(tools, "Onboarding Due")
        assert onboarding["recommended_products"] == expected
        assert onboarding["order_id"] == facts.order_id
        assert onboarding["first_name"] == "Mary"
        completed = [p["order_id"] for p in _klaviyo_events(tools, "Order Completed")]
        assert completed == [facts.order_id]

        # Erasure: a receipt from every destination, each from the vendor's own deletion.
        receipts = {r["destination"]: r["status"] for r in facts.privacy["receipts"]}
        assert receipts == {"crm": "deleted", "meta": "deleted", "klaviyo": "deleted"}
        assert facts.privacy["status"] == "done"
        assert EMAIL in [b["objectId"] for b in _bodies(tools.hubspot, "/gdpr-delete")]
        assert _bodies(tools.klaviyo, "/api/data-privacy-deletion-jobs")
        assert _meta_changes(tools)[-1][0] == "DELETE"
