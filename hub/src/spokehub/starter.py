"""The starter project written by ``spokehub init``: a working hub on files alone."""

from __future__ import annotations

from pathlib import Path

SPOKEHUB_YAML = """\
# spokehub project file. Values like ${NAME} come from the environment;
# ${NAME:-default} falls back to the default when NAME is unset.
version: 1

store:
  url: ${SPOKEHUB_STORE_URL:-sqlite:///spokehub.db}

server:
  host: 127.0.0.1
  port: 8700
  admin_token: ${SPOKEHUB_ADMIN_TOKEN:-change-me}

default_phone_region: US

connections:
  # Events sent by any Segment- or RudderStack-compatible SDK with this write key.
  website:
    kind: source
    write_keys: ["${WEBSITE_WRITE_KEY:-website-dev-key}"]

  # Customers exported from the webshop as CSV, read incrementally.
  webshop_files:
    kind: source
    spoke: files
    schedule: 60
    config:
      streams:
        - name: customers
          path: data/customers.csv
          kind: person
          record_id: customer_id
          identifiers: {customer_id: "shop:customer_id", email: email, phone: phone}
          mapping: {first_name: first_name, last_name: last_name, city: address.city}

  # Everything the CRM should know, as JSON lines (swap for a real CRM spoke later).
  crm:
    kind: destination
    spoke: files
    config:
      path: out/crm.jsonl

routes:
  - to: crm
    kinds: [upsert_person, upsert_account, upsert_membership, event]

identity:
  limits: {user_id: 1, email: 5, phone: 5}
"""

CUSTOMERS_CSV = """\
customer_id,email,phone,first_name,last_name,city
1001,Ada.Lovelace@Example.com,+44 20 7946 0958,Ada,Lovelace,London
1002,grace@example.org,(202) 555-0143,Grace,Hopper,Arlington
"""


def write_starter(directory: Path, *, force: bool = False) -> list[Path]:
    """Write the starter files into ``directory``; refuse to overwrite unless ``force``."""
    files = {
        directory / "spokehub.yaml": SPOKEHUB_YAML,
        directory / "data" / "customers.csv": CUSTOMERS_CSV,
    }
    existing = [p for p in files if p.exists()]
    if existing and not force:
        names = ", ".join(str(p) for p in existing)
        raise FileExistsError(f"{names} already exists; use --force to overwrite")
    for path, text in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return list(files)
