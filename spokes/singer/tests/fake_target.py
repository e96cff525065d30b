"""A tiny Singer target: appends records to ``path`` and echoes the last STATE, unless
``fault`` says to exit 1 or to forget the echo."""

import argparse
import json
import sys
from pathlib import Path

parser = argparse.ArgumentParser()
parser.add_argument("--config")
config = json.loads(Path(parser.parse_args().config).read_text())
state = None
with open(config["path"], "a") as out:
    for line in sys.stdin:
        message = json.loads(line)
        if message["type"] == "RECORD":
            out.write(json.dumps({"stream": message["stream"], **message["record"]}) + "\n")
        elif message["type"] == "STATE":
            state = message["value"]
if config.get("fault") == "exit":
    print("cannot write", file=sys.stderr)
    sys.exit(1)
if config.get("fault") != "silent":
    print(json.dumps(state), flush=True)
