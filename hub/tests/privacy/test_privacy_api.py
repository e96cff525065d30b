"""``/v1/privacy/requests`` and ``spokehub privacy``: requests filed, carried out in the
hub at once, receipts per destination; the profile API no longer knows the person."""

from __future__ import annotations

import json

from fastapi.testclient import TestClient

from spokehub.api import create_app
from spokehub.ingest import IngestSettings
from spokehub.pipeline import Pipeline

from .test_erasure import EMAIL, EMAIL_SENT, PHONE, feed, person_messages, setup

DPO = "dpo-token-0123456789-0123456789-01"
READER = "reader-token-0123456789-012345678"


def client_for(engine, tmp_path):
    project, registry = setup(tmp_path)
    project.server.tokens = {}
    from spokehub.config import validate

    data = project.model_dump(mode="json", by_alias=True, exclude_none=True)
    data["server"]["tokens"] = {
        "dpo": {"scopes": ["privacy"], "token": DPO},
        "reader": {"scopes": ["profiles:read"], "token": READER},
    }
    for conn in data["connections"].values():
        conn["write_keys"] = ["wk-privacy"] if conn["kind"] == "source" else []
    project = validate(data, registry)
    app = create_app(project, registry, engine, settings=IngestSettings())
    return TestClient(app, raise_server_exceptions=False), project, registry


def test_a_delete_request_through_the_api_erases_and_shows_receipts(sqlite_engine, tmp_path):
    engine = sqlite_engine
    client, project, registry = client_for(engine, tmp_path)
    feed(engine, person_messages())
    Pipeline(engine, project, registry).drain()
    dpo = {"Authorization": f"Bearer {DPO}"}
    reader = {"Authorization": f"Bearer {READER}"}
    with client:
        found = client.get("/v1/profiles", params={"identifier": f"phone:{PHONE}"}, headers=reader)
        assert found.status_code == 200
        # The reader may not file requests; the privacy token may not read profiles.
        body = {"kind": "delete", "identifiers": [f"email:{EMAIL_SENT}"], "reason": "GDPR art. 17"}
        assert client.post("/v1/privacy/requests", json=body, headers=reader).status_code == 403
        assert client.get("/v1/profiles/x", headers=dpo).status_code == 403

        r = client.post("/v1/privacy/requests", json=body, headers=dpo)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["status"] == "waiting"
        assert answer["requested_by"] == "dpo" and answer["source"] == "api"
        assert {x["destination"]: x["status"] for x in answer["receipts"]} == {
            "ads": "not_supported",
            "crm": "pending",
        }
        assert EMAIL not in r.text and "subject" not in answer
        for identifier in (f"email:{EMAIL}", f"phone:{PHONE}", "user_id:u-ada"):
            r = client.get("/v1/profiles", params={"identifier": identifier}, headers=reader)
            assert r.status_code == 404, identifier

        again = client.get(f"/v1/privacy/requests/{answer['id']}", headers=dpo).json()
        assert again["id"] == answer["id"] and again["reason"] == "GDPR art. 17"
        assert client.get("/v1/privacy/requests/pr_nope", headers=dpo).status_code == 404
        bad = client.post(
            "/v1/privacy/requests",
            json={"kind": "delete", "identifiers": ["nonsense"]},
            headers=dpo,
        )
        assert bad.status_code == 422 and "identifiers[0]" in bad.json()["message"]
        bad = client.post(
            "/v1/privacy/requests",
            json={"kind": "shred", "identifiers": ["user_id:1"]},
            headers=dpo,
        )
        assert bad.status_code == 422 and "kind" in bad.json()["message"]


def test_an_access_request_answers_the_export(sqlite_engine, tmp_path):
    engine = sqlite_engine
    client, project, registry = client_for(engine, tmp_path)
    feed(engine, person_messages())
    Pipeline(engine, project, registry).drain()
    with client:
        r = client.post(
            "/v1/privacy/requests",
            json={"kind": "access", "identifiers": ["user_id:u-ada"]},
            headers={"Authorization": f"Bearer {DPO}"},
        )
    answer = r.json()
    assert answer["status"] == "done"
    (profile,) = answer["export"]["profiles"]
    assert profile["traits"]["email"]["value"] == EMAIL


def test_the_privacy_commands(run_cli, tmp_path):
    (tmp_path / "spokehub.yaml").write_text(
        "version: 1\n"
        f"store: {{url: 'sqlite:///{tmp_path}/hub.db'}}\n"
        "connections:\n"
        "  web: {kind: source, write_keys: [wk-cli-privacy]}\n"
        f"  crm: {{kind: destination, spoke: files, config: {{path: '{tmp_path}/crm.jsonl'}}}}\n"
        "routes: [{to: crm}]\n"
    )
    assert run_cli("db", "upgrade").returncode == 0
    from spokehub.store import create_store_engine

    engine = create_store_engine(f"sqlite:///{tmp_path}/hub.db")
    feed(engine, person_messages())
    engine.dispose()
    assert run_cli("pipeline", "run", "--once").returncode == 0

    exported = run_cli("privacy", "export", f"phone:{PHONE}")
    assert exported.returncode == 0, exported.stderr
    data = json.loads(exported.stdout)
    assert data["profiles"][0]["traits"]["email"]["value"] == EMAIL

    forgot = run_cli("privacy", "forget", f"email:{EMAIL}", "--reason", "asked", "--json")
    assert forgot.returncode == 0, forgot.stderr
    view = json.loads(forgot.stdout)
    assert view["status"] == "waiting"
    assert [(r["destination"], r["status"]) for r in view["receipts"]] == [("crm", "pending")]
    assert run_cli("deliveries", "run", "--once").returncode == 0
    status = run_cli("privacy", "status", view["id"])
    assert status.returncode == 0, status.stderr
    assert "done" in status.stdout and "deleted" in status.stdout
    assert EMAIL not in status.stdout
    missing = run_cli("privacy", "status", "pr_nope")
    assert missing.returncode == 2 and "no privacy request" in missing.stderr
    assert run_cli("privacy", "forget", "nonsense").returncode == 2
