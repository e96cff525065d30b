"""One data contract for all intake: a row pulled from a CSV file (``spokehub sync run``)
and a record a webhook delivered (``POST /v1/webhooks/{connection}``) that break the
contract are quarantined with the field and rule like an API event, and replay once the
contract is fixed."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import yaml
from fastapi.testclient import TestClient

from spokehub.api import create_app
from spokehub.config import load
from spokehub.ingest import IngestSettings
from spokehub.pipeline import Pipeline, list_quarantine, replay
from spokehub.profiles import profile_view
from spokehub.registry import Registry
from spokehub.store import create_store_engine
from spokehub_contracts import (
    Capabilities,
    Identifier,
    Person,
    Source,
    SourceRecord,
    WebhookRequest,
    hookimpl,
)

SECRET = "s3cret"
TIERS = ["bronze", "gold"]


class ShopHooks(Source):
    """A shop that posts its customers as they change; the shared secret verifies."""

    name = "shop-hooks"
    capabilities = Capabilities(webhooks=True)

    async def verify_webhook(self, request: WebhookRequest) -> bool:
        return request.headers.get("x-signature") == SECRET

    async def parse_webhook(self, request: WebhookRequest) -> Sequence[SourceRecord]:
        body = orjson.loads(request.body)
        return [
            SourceRecord(
                stream="customers",
                record_id=str(c["id"]),
                identifiers=(Identifier(type="email", value=c["email"]),),
                data=Person(attributes={"loyalty_tier": c["tier"]}),
            )
            for c in body["customers"]
        ]


def _plugin() -> Any:
    @hookimpl
    def register_sources(register: Any) -> None:
        register(ShopHooks)

    return SimpleNamespace(register_sources=register_sources)


def _write(tmp_path: Path, tiers: list[str], hooks: bool = False) -> Path:
    """The project file; ``hooks`` adds the webhook source, whose spoke only this test
    process registers (the command, a process of its own, would not know it)."""
    (tmp_path / "contract.yaml").write_text(
        yaml.safe_dump(
            {
                "traits": {"person": {"loyalty_tier": {"type": "string", "enum": tiers}}},
                "sources": {"shop": {"mode": "enforce"}, "hooks": {"mode": "enforce"}},
            }
        )
    )
    path = tmp_path / ("hub-with-hooks.yaml" if hooks else "spokehub.yaml")
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
                "contract": "contract.yaml",
                "connections": {
                    "shop": {
                        "kind": "source",
                        "spoke": "files",
                        "config": {
                            "streams": [
                                {
                                    "name": "customers",
                                    "path": "customers.csv",
                                    "kind": "person",
                                    "identifiers": {"email": "email"},
                                    "mapping": {"tier": "attributes.loyalty_tier"},
                                }
                            ]
                        },
                    },
                    **({"hooks": {"kind": "source", "spoke": "shop-hooks"}} if hooks else {}),
                },
            }
        )
    )
    return path


def _tier(engine, project, email: str) -> Any:
    from spokehub.identity.lookup import lookup

    with engine.connect() as conn:
        contact = lookup(conn, Identifier(type="email", value=email))
        if contact is None:
            return None
        trait = profile_view(conn, contact, project.identity).traits.get("loyalty_tier")
        return trait.value if trait else None


def test_pulled_and_pushed_records_meet_the_contract_and_replay_once_it_is_fixed(
    tmp_path: Path, run_cli
) -> None:
    (tmp_path / "customers.csv").write_text(
        "email,tier\nada@example.com,gold\ngrace@example.com,platinum\n"
    )
    config = _write(tmp_path, TIERS)
    env = {"SPOKEHUB_PLUGINS": "files", "COLUMNS": "250"}
    result = run_cli("-c", str(config), "sync", "run", "shop", env=env)
    assert result.returncode == 0, result.stdout + result.stderr

    registry = Registry.load(allow=("files",), extra_plugins=[("shop-hooks", _plugin())])
    project = load(_write(tmp_path, TIERS, hooks=True), registry)
    engine = create_store_engine(project.store.url)
    app = create_app(project, registry, engine, settings=IngestSettings())
    body = {"customers": [{"id": 7, "email": "edsger@example.com", "tier": "diamond"}]}
    with TestClient(app) as client:
        r = client.post(
            "/v1/webhooks/hooks", content=orjson.dumps(body), headers={"x-signature": SECRET}
        )
        assert r.status_code == 200, r.text

    stats = Pipeline(engine, project, registry).drain()
    assert (stats.processed, stats.quarantined) == (1, 2)
    held = list_quarantine(engine)
    assert {(q.connection, q.kind, q.stage, q.field) for q in held} == {
        ("shop", "record", "contract", "traits.loyalty_tier"),
        ("hooks", "record", "contract", "traits.loyalty_tier"),
    }
    assert all("bronze" in q.rule and "gold" in q.rule for q in held)
    assert _tier(engine, project, "ada@example.com") == "gold"
    assert _tier(engine, project, "grace@example.com") is None
    assert _tier(engine, project, "edsger@example.com") is None
    listed = run_cli("-c", str(config), "quarantine", "list", env=env)
    assert "traits.loyalty_tier" in listed.stdout

    # Replayed before the contract is fixed, they are quarantined again.
    assert replay(engine) == 2
    assert Pipeline(engine, project, registry).drain().quarantined == 2

    config = _write(tmp_path, [*TIERS, "platinum", "diamond"])
    project = load(_write(tmp_path, [*TIERS, "platinum", "diamond"], hooks=True), registry)
    replayed = run_cli("-c", str(config), "quarantine", "replay", env=env)
    assert "replayed 2 record(s)" in replayed.stdout
    stats = Pipeline(engine, project, registry).drain()
    assert (stats.processed, stats.quarantined) == (2, 0)
    assert _tier(engine, project, "grace@example.com") == "platinum"
    assert _tier(engine, project, "edsger@example.com") == "diamond"
    engine.dispose()
