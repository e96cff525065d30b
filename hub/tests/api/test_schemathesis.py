"""Property-based tests over the hub's own OpenAPI document: whatever a client sends, the
answer is never a server error, and every refusal is a JSON error."""

from __future__ import annotations

import base64

import pytest
import schemathesis

# Loaded now rather than by the first schema: pytest rewrites schemathesis's modules as it
# imports them, and CPython 3.11 builds ASTs with a recursion counter shared between
# threads, so a rewrite during a test, beside another test's lingering thread, can fail
# with "AST constructor recursion depth mismatch".
import schemathesis.specs.openapi.schemas
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from spokehub.api import create_app
from spokehub.config import validate
from spokehub.ingest import IngestSettings
from spokehub.registry import Registry

KEY = "wk-fuzz"
ADMIN = "admin-fuzz"
BASIC = "Basic " + base64.b64encode(f"{KEY}:".encode()).decode()


@pytest.fixture
def api_schema(engine):
    project = validate(
        {
            "server": {"admin_token": ADMIN},
            "connections": {
                "web": {"kind": "source", "write_keys": [KEY]},
                "shop": {"kind": "source"},
            },
        }
    )
    app = create_app(project, Registry.load(allow=()), engine, settings=IngestSettings())
    return schemathesis.openapi.from_asgi("/openapi.json", app)


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_no_input_makes_a_server_error(api_schema, mode):
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) > 10
    for operation in operations:
        _fuzz(operation, mode)


def _fuzz(operation, mode):
    # Authenticated callers reach the code behind the auth check; unauthenticated
    # answers are covered by the ingestion and profile tests.
    auth = f"Bearer {ADMIN}" if operation.path.startswith("/v1/profiles") else BASIC

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def check(case):
        headers = {**(case.headers or {}), "Authorization": auth}
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        if response.status_code >= 400:
            body = response.json()
            assert body["success"] is False, body
            assert body["code"] and body["message"], body

    try:
        check()
    except Unsatisfiable:
        # Nothing in this operation's schema can be made invalid (a bare path string).
        assert mode is GenerationMode.NEGATIVE, operation.label
    except Exception as exc:
        exc.add_note(f"operation: {operation.label} ({mode.value})")
        raise


def test_a_nul_in_a_message_id_is_a_client_error(api_schema):
    # Found by the fuzzing above: PostgreSQL text cannot hold NUL, which was a 500.
    body = {"userId": "u1", "event": "e", "messageId": "m\x00"}
    with TestClient(api_schema.app) as client:
        response = client.post("/v1/track", json=body, headers={"Authorization": BASIC})
    assert response.status_code == 400
    assert response.json()["message"] == "messageId: must not contain NUL"
