"""Every route of the daemon's OpenAPI document: ingestion, webhooks and health are open
(their own credentials aside); every other route needs a bearer token with its scope,
and each scope opens exactly its routes."""

from __future__ import annotations

import base64
import re

import pytest
from fastapi.testclient import TestClient

from spokehub.api import create_app
from spokehub.api.auth import SCOPE_KEY
from spokehub.config import validate
from spokehub.ingest import IngestSettings
from spokehub.registry import Registry
from spokehub.tokens import SCOPES, token_digest

KEY = "wk-scopes-write-key"
ADMIN = "admin-scopes-token"
#: One token per scope; the ``deliveries`` one configured by its hash, the rest in plain.
SCOPE_TOKENS = {scope: f"tok-{scope.replace(':', '-')}-0123456789" for scope in SCOPES}
#: Routes that take no token: the write key, the spoke's signature, or nothing.
OPEN_TAGS = {"ingestion", "webhooks", "health"}


def _name(scope: str) -> str:
    return scope.replace(":", "_")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    from spokehub.store import create_store_engine, upgrade

    engine = create_store_engine(f"sqlite:///{tmp_path_factory.mktemp('scopes') / 'hub.db'}")
    upgrade(engine)
    tokens = {
        _name(scope): (
            {"scopes": [scope], "sha256": token_digest(token)}
            if scope == "deliveries"
            else {"scopes": [scope], "token": token}
        )
        for scope, token in SCOPE_TOKENS.items()
    }
    project = validate(
        {
            "server": {
                "admin_token": ADMIN,
                "tokens": tokens,
                # This test fails on purpose many times over; the throttle has tests of its own.
                "auth_failures": {"burst": 100_000, "per_minute": 1e6},
            },
            "connections": {
                "web": {"kind": "source", "write_keys": [KEY]},
                "out": {"kind": "destination", "spoke": "files", "config": {"path": "x.jsonl"}},
            },
        }
    )
    app = create_app(project, Registry.load(allow=()), engine, settings=IngestSettings())
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c
    engine.dispose()


def operations(client):
    document = client.get("/openapi.json").json()
    for path, item in document["paths"].items():
        for method, operation in item.items():
            concrete = re.sub(r"\{[^}]+\}", "x", path)
            yield method.upper(), path, concrete, operation


def call(client, method, path, token=None, basic=None):
    headers = {}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    if basic is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(f"{basic}:".encode()).decode()
    return client.request(method, path, headers=headers, json={})


def test_every_route_is_open_by_its_tag_or_names_a_scope(client):
    scoped = 0
    for method, path, _, operation in operations(client):
        scope = operation.get(SCOPE_KEY)
        if scope is None:
            assert set(operation.get("tags", ())) & OPEN_TAGS, f"{method} {path} names no scope"
        else:
            assert scope in SCOPES
            assert operation["security"] == [{"bearerToken": [scope]}]
            scoped += 1
    assert scoped >= 8
    schemes = client.get("/openapi.json").json()["components"]["securitySchemes"]
    assert schemes["bearerToken"]["scheme"] == "bearer"


def test_without_a_token_every_scoped_route_answers_401_and_a_write_key_opens_none(client):
    for method, path, concrete, operation in operations(client):
        if SCOPE_KEY not in operation:
            continue
        for kwargs in ({}, {"basic": KEY}, {"token": KEY}, {"token": ""}, {"token": ADMIN + "x"}):
            r = call(client, method, concrete, **kwargs)
            assert r.status_code == 401, (method, path, kwargs, r.status_code)
            assert r.headers["www-authenticate"] == "Bearer"


def test_each_scope_opens_exactly_its_routes(client):
    seen = set()
    for method, path, concrete, operation in operations(client):
        required = operation.get(SCOPE_KEY)
        if required is None:
            continue
        seen.add(required)
        for scope, token in SCOPE_TOKENS.items():
            r = call(client, method, concrete, token=token)
            if scope == required:
                assert r.status_code not in (401, 403), (method, path, scope, r.status_code)
            else:
                assert r.status_code == 403, (method, path, scope, r.status_code)
                assert r.json()["message"] == f"token {_name(scope)!r} lacks the scope {required!r}"
        # The operator's token holds every scope.
        assert call(client, method, concrete, token=ADMIN).status_code not in (401, 403)
    assert {"profiles:read", "profiles:write", "deliveries", "admin"} <= seen


def test_a_write_key_cannot_read_a_profile_but_still_sends_events(client):
    assert call(client, "GET", "/v1/profiles/abc", basic=KEY).status_code == 401
    r = client.post("/v1/track", json={"userId": "u1", "event": "E"}, auth=(KEY, ""))
    assert r.status_code == 200
    assert client.get("/healthz").status_code == 200
