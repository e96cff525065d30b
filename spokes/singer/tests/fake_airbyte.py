"""A tiny Airbyte source: ``spec``, ``check``, ``discover`` and ``read`` of a ``users``
stream with a STATE per two rows; ``fault`` in the config makes it report a TRACE error
(``config_error`` naming a 401, or ``transient_error``) and exit 1, or say the stream is
RATE_LIMITED."""

import argparse
import json
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("command")
parser.add_argument("--config")
parser.add_argument("--catalog")
parser.add_argument("--state")
args = parser.parse_args()
config = json.loads(Path(args.config).read_text()) if args.config else {}


def emit(message):
    print(json.dumps(message), flush=True)


schema = {"type": "object", "properties": {"id": {"type": "integer"}}}
if args.command == "spec":
    emit({"type": "SPEC", "spec": {"connectionSpecification": {"type": "object"}}})
elif args.command == "check":
    ok = config.get("api_key") == "good-key"
    status = {"status": "SUCCEEDED"} if ok else {"status": "FAILED", "message": "401 bad API key"}
    emit({"type": "CONNECTION_STATUS", "connectionStatus": status})
elif args.command == "discover":
    stream = {
        "name": "users",
        "json_schema": schema,
        "supported_sync_modes": ["full_refresh", "incremental"],
        "source_defined_cursor": True,
        "default_cursor_field": ["id"],
        "source_defined_primary_key": [["id"]],
    }
    emit({"type": "CATALOG", "catalog": {"streams": [stream]}})
else:
    states = json.loads(Path(args.state).read_text()) if args.state else []
    start = states[0]["stream"]["stream_state"]["id"] if states else 0
    emit({"type": "LOG", "log": {"level": "INFO", "message": f"key {config.get('api_key')}"}})
    fault = config.get("fault")
    if fault == "rate_limited":
        reason = {"type": "RATE_LIMITED", "rate_limited": {"quota_reset": 1767225600000}}
        status = {"stream_descriptor": {"name": "users"}, "status": "RUNNING", "reasons": [reason]}
        emit({"type": "TRACE", "trace": {"type": "STREAM_STATUS", "stream_status": status}})
    for n in range(start, config.get("rows", 4)):
        if fault in ("config_error", "transient_error") and n == 2:
            error = {
                "message": "401 Unauthorized" if fault == "config_error" else "socket closed",
                "failure_type": fault,
            }
            emit({"type": "TRACE", "trace": {"type": "ERROR", "error": error}})
            sys.exit(1)
        data = {"id": n + 1, "email": f"user{n + 1}@example.com"}
        emit({"type": "RECORD", "record": {"stream": "users", "data": data, "emitted_at": 0}})
        if (n + 1) % 2 == 0:
            state = {"stream_descriptor": {"name": "users"}, "stream_state": {"id": n + 1}}
            emit({"type": "STATE", "state": {"type": "STREAM", "stream": state}})
