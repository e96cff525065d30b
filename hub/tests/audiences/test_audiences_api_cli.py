"""``/v1/audiences`` and ``spokehub audiences|journeys``: what is defined, who is in it, a
preview that writes nothing, a reconcile and firing due timers from the terminal."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import yaml
from fastapi import FastAPI
from fastapi.testclient import TestClient

from spokehub.api.audiences import router
from spokehub.config import validate

TOKEN = "admin-secret"

FILE = {
    "store": {"url": "sqlite:///hub.db"},
    "server": {"admin_token": TOKEN},
    "connections": {
        "web": {"kind": "source", "write_keys": ["wk-123456"]},
        "crm": {"kind": "destination", "spoke": "files", "config": {"path": "out.jsonl"}},
    },
    "audiences": {
        "pros": {"where": {"trait": "plan", "eq": "pro"}, "to": ["crm"]},
        "buyers": {"where": {"event": "Order Completed", "within_days": 30}},
    },
    "journeys": {
        "onboarding": {
            "trigger": {"event": "Order Completed"},
            "after": "2d",
            "send": {"event": "Onboarding Due", "to": "crm"},
        }
    },
}


def _setup(run_cli, tmp_path) -> None:
    (tmp_path / "spokehub.yaml").write_text(yaml.safe_dump(FILE))
    assert run_cli("db", "upgrade").returncode == 0


def _feed(run_cli, tmp_path, messages) -> None:
    from spokehub.store import create_store_engine

    from .helpers import feed

    engine = create_store_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        feed(engine, messages)
    finally:
        engine.dispose()
    assert run_cli("pipeline", "run", "--once").returncode == 0


def test_the_cli_lists_shows_previews_reconciles_and_fires(run_cli, tmp_path):
    _setup(run_cli, tmp_path)
    _feed(
        run_cli,
        tmp_path,
        [
            {"type": "identify", "userId": "u1", "traits": {"plan": "pro"}},
            {"type": "identify", "userId": "u2", "traits": {"plan": "free"}},
            {
                "type": "track",
                "userId": "u2",
                "event": "Order Completed",
                "timestamp": datetime.now(UTC).isoformat(),
            },
        ],
    )
    listed = run_cli("audiences", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    sizes = {a["name"]: (a["members"], a["time_based"]) for a in json.loads(listed.stdout)}
    assert sizes == {"buyers": (1, True), "pros": (1, False)}

    shown = run_cli("audiences", "show", "pros")
    assert (
        shown.returncode == 0
        and "members: 1 (left: 0)" in shown.stdout
        and "eq: pro" in shown.stdout
    )
    assert run_cli("audiences", "show", "nope").returncode == 2

    preview = run_cli("audiences", "preview", "--where", "{trait: plan, exists: true}", "--json")
    assert json.loads(preview.stdout)["matching"] == 2
    assert json.loads(preview.stdout)["profiles"] == 2
    bad = run_cli("audiences", "preview", "--where", "{trait: plan, event: x}")
    assert bad.returncode == 2 and "names exactly one of" in bad.stderr

    # A month later the order has aged out; the reconcile sees it.
    later = run_cli("audiences", "reconcile", env={"SPOKEHUB_CLOCK_OFFSET": "31d"})
    assert (
        later.returncode == 0 and "buyers: decided 2, entered 0, exited 1 (in full)" in later.stdout
    )
    journeys = json.loads(run_cli("journeys", "list", "--json").stdout)
    assert [(j["name"], j["after"], j["scheduled"]) for j in journeys] == [("onboarding", "2d", 1)]
    assert "fired 0" in run_cli("journeys", "fire").stdout
    assert "fired 1" in run_cli("journeys", "fire", env={"SPOKEHUB_CLOCK_OFFSET": "3d"}).stdout
    assert "fired 0" in run_cli("journeys", "fire", env={"SPOKEHUB_CLOCK_OFFSET": "3d"}).stdout
    wrong = run_cli("journeys", "fire", env={"SPOKEHUB_CLOCK_OFFSET": "soon"})
    assert wrong.returncode == 2 and "SPOKEHUB_CLOCK_OFFSET" in wrong.stderr


def test_the_api_lists_and_shows_audiences(sqlite_engine):
    project = validate(
        {
            **FILE,
            "connections": {**FILE["connections"], "crm": {"kind": "destination", "spoke": "x"}},
        }
    )
    app = FastAPI()
    app.state.engine = sqlite_engine
    app.state.project = project
    app.include_router(router)
    client = TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})
    listed = client.get("/v1/audiences").json()
    assert [(a["name"], a["members"], a["to"]) for a in listed] == [
        ("buyers", 0, []),
        ("pros", 0, ["crm"]),
    ]
    assert listed[1]["where"] == {"trait": "plan", "eq": "pro"}
    shown = client.get("/v1/audiences/pros").json()
    assert shown["recent_members"] == [] and shown["exited"] == 0
    assert client.get("/v1/audiences/nope").status_code == 404
    assert client.get("/v1/audiences", headers={"Authorization": ""}).status_code == 401


def test_config_validate_refuses_a_destination_that_takes_no_audience_changes(run_cli, tmp_path):
    data = {
        **FILE,
        "connections": {
            **FILE["connections"],
            "mail": {"kind": "destination", "spoke": "klaviyo", "config": {"api_key": "pk_x"}},
        },
        "audiences": {"pros": {"where": {"trait": "plan"}, "to": ["mail", "crm"]}},
        "journeys": {},
    }
    (tmp_path / "spokehub.yaml").write_text(yaml.safe_dump(data))
    result = run_cli("config", "validate")
    assert result.returncode == 2
    assert (
        "audiences.pros.to[0]: destination 'mail' does not take audience_entered or"
        " audience_exited changes (it takes: upsert_person, event, consent)"
    ) in result.stderr
    assert "to[1]" not in result.stderr
