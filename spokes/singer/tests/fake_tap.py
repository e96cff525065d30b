"""A tiny Singer tap for fault injection: ``people`` rows from its config, a STATE after
every ``every`` rows; ``fault`` in the config makes it print garbage, exit 1 or hang
after ``fault_after`` rows; ``delay`` paces the rows. It logs its config's ``api_key``
on stderr, as careless taps do."""

import argparse
import json
import sys
import time
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--config")
parser.add_argument("--state")
parser.add_argument("--catalog")
parser.add_argument("--properties")
parser.add_argument("--discover", action="store_true")
args = parser.parse_args()
config = json.loads(Path(args.config).read_text())
schema = {"type": "object", "properties": {"id": {"type": "string"}}}
if args.discover:
    catalog = {
        "streams": [
            {
                "tap_stream_id": "people",
                "stream": "people",
                "schema": schema,
                "key_properties": ["id"],
                "metadata": [],
            }
        ]
    }
    print(json.dumps(catalog, indent=2))
    sys.exit(0)
state = json.loads(Path(args.state).read_text()) if args.state else {}
start = state.get("bookmarks", {}).get("people", {}).get("position", 0)
print(f"starting with key {config.get('api_key')} at {start}", file=sys.stderr, flush=True)


def emit(message):
    print(json.dumps(message), flush=True)


emit({"type": "SCHEMA", "stream": "people", "schema": schema, "key_properties": ["id"]})
rows = config.get("rows", 10)
every = config.get("every", 2)
fault = config.get("fault")
for n in range(start, rows):
    if fault and n == config.get("fault_after", 5):
        if fault == "garbage":
            print("Traceback? no: this is not JSON", flush=True)
        elif fault == "exit":
            print("fatal: the vendor said no", file=sys.stderr, flush=True)
            sys.exit(1)
        elif fault == "hang":
            time.sleep(60)
    time.sleep(config.get("delay", 0))
    emit(
        {
            "type": "RECORD",
            "stream": "people",
            "record": {"id": f"p{n}", "email": f"Person{n}@Example.com", "plan": "gold"},
        }
    )
    if (n + 1) % every == 0:
        emit({"type": "STATE", "value": {"bookmarks": {"people": {"position": n + 1}}}})
emit({"type": "STATE", "value": {"bookmarks": {"people": {"position": rows}}}})
