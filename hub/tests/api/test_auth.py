"""Who may call: the admin token is never matched by an empty one, and write keys are
checked before a request's body is read."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from spokehub.api import create_app
from spokehub.config import validate
from spokehub.ingest import IngestSettings
from spokehub.registry import Registry

KEY = "wk-auth-test"
ADMIN = "admin-auth-test"


def make_app(engine, **server):
    project = validate(
        {
            "server": {"admin_token": ADMIN, **server},
            "connections": {"web": {"kind": "source", "write_keys": [KEY]}},
        }
    )
    return create_app(project, Registry.load(allow=()), engine, settings=IngestSettings())


@pytest.fixture
def app(sqlite_engine):
    return make_app(sqlite_engine)


@pytest.fixture
def client(app):
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


@pytest.mark.parametrize("header", ["Bearer ", "Bearer", "Bearer    ", "bearer \t"])
def test_an_empty_bearer_token_is_refused_even_against_an_empty_token(app, client, header):
    # Validation refuses an empty token; should one ever slip through, it still opens nothing.
    app.state.project.server.admin_token = SecretStr("")
    r = client.get("/v1/profiles/abc", headers={"Authorization": header})
    assert r.status_code == 401
    r = client.post("/v1/profiles/abc/unmerge", headers={"Authorization": header}, json={})
    assert r.status_code == 401


def test_the_admin_token_opens_the_profile_api(client):
    r = client.get("/v1/profiles/abc", headers={"Authorization": f"Bearer {ADMIN}"})
    assert r.status_code == 404
    r = client.get("/v1/profiles/abc", headers={"Authorization": f"Bearer {ADMIN}x"})
    assert r.status_code == 401
    r = client.get("/v1/profiles/abc", headers={"Authorization": f"Basic {ADMIN}"})
    assert r.status_code == 401
