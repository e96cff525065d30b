"""``/v1/deliveries`` and ``spokehub deliveries``: status, replay, resume."""

from __future__ import annotations

from delivery_helpers import destination_class, event, fill, make_project, plugin, rows
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import update
from typer.testing import CliRunner

from spokehub.api.deliveries import router
from spokehub.cli import app as cli_app
from spokehub.delivery import state as lane_state
from spokehub.registry import Registry
from spokehub.store.tables import outbox

TOKEN = "admin-secret"


def _project(engine):
    cls = destination_class("api-vendor")
    registry = Registry.load(allow=[], extra_plugins=[("fake", plugin(cls))])
    project = make_project(
        {"crm": (cls, "http://127.0.0.1:9")}, registry, server={"admin_token": TOKEN}
    )
    return project, registry


def _client(engine) -> TestClient:
    project, _ = _project(engine)
    app = FastAPI()
    app.state.engine = engine
    app.state.project = project
    app.include_router(router)
    return TestClient(app, headers={"Authorization": f"Bearer {TOKEN}"})


def _finish(engine, status: str) -> None:
    with engine.begin() as conn:
        conn.execute(update(outbox).values(status=status, finished_at=outbox.c.created_at))


def test_status_and_replay_over_the_api(sqlite_engine):
    fill(sqlite_engine, "crm", [event("e1", "c1"), event("e2", "c2")])
    _finish(sqlite_engine, "dead")
    lane_state.pause(sqlite_engine, "crm", "paused: bad key Bearer abc.def")
    client = _client(sqlite_engine)

    [lane] = client.get("/v1/deliveries/status").json()
    assert lane["connection"] == "crm" and lane["state"] == "paused" and lane["dead"] == 2
    assert "abc.def" not in lane["reason"]

    answer = client.post("/v1/deliveries/crm/replay", json={"dead_letters": True})
    assert answer.json() == {"connection": "crm", "queued": 2}
    assert {(r.status, r.attempts) for r in rows(sqlite_engine)} == {("pending", 0)}
    assert client.post("/v1/deliveries/crm/resume").json()["was_paused"] is True
    assert client.post("/v1/deliveries/nope/replay").status_code == 404
    assert client.get("/v1/deliveries/status", headers={"Authorization": ""}).status_code == 401


def test_replay_since_copies_delivered_items(sqlite_engine):
    fill(sqlite_engine, "crm", [event("e1", "c1")])
    _finish(sqlite_engine, "delivered")
    client = _client(sqlite_engine)
    assert client.post("/v1/deliveries/crm/replay", json={"since": "1h"}).json()["queued"] == 1
    first, copy = rows(sqlite_engine)
    assert first.status == "delivered" and copy.status == "pending"
    assert '"e1:replay:' in copy.item
    bad = client.post("/v1/deliveries/crm/replay", json={"since": "last tuesday"})
    assert bad.status_code == 422


def test_cli_status_and_replay(sqlite_engine, monkeypatch, tmp_path):
    # The CLI configures logging onto the runner's captured stderr; undo that afterwards.
    monkeypatch.setattr("spokehub.cli.context.configure_logging", lambda **kw: None)
    _, registry = _project(sqlite_engine)
    monkeypatch.setattr(Registry, "load", classmethod(lambda cls, **kw: registry))
    config = tmp_path / "spokehub.yaml"
    config.write_text(
        "store:\n"
        f"  url: {sqlite_engine.url.render_as_string(hide_password=False)}\n"
        "connections:\n"
        "  crm:\n    kind: destination\n    spoke: api-vendor\n"
        "    config:\n      base_url: http://127.0.0.1:9\n"
    )
    fill(sqlite_engine, "crm", [event("e1", "c1")])
    _finish(sqlite_engine, "dead")
    runner = CliRunner()
    result = runner.invoke(cli_app, ["-c", str(config), "deliveries", "status", "--json"])
    assert result.exit_code == 0, result.output
    assert '"dead": 1' in result.output
    result = runner.invoke(
        cli_app, ["-c", str(config), "deliveries", "replay", "crm", "--dead-letters"]
    )
    assert result.exit_code == 0, result.output
    assert "queued 1 dead letter(s)" in result.output
    result = runner.invoke(cli_app, ["-c", str(config), "deliveries", "replay", "nope"])
    assert result.exit_code == 2
