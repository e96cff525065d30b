"""Merges and splits as outbox rows for the destinations that hold the contact: a merge
where the spoke can merge, else a forget of the absorbed contact; the survivor's whole
profile after either; both parts after an unmerge."""

from __future__ import annotations

import orjson
from pydantic import TypeAdapter
from sqlalchemy import select

from spokehub.config import validate
from spokehub.delivery.holdings import Delivery, holders, note
from spokehub.identity.unmerge import unmerge
from spokehub.pipeline import Pipeline
from spokehub.pipeline.identity_changes import announce_splits
from spokehub.registry import Registry
from spokehub.store.tables import outbox
from spokehub.testing.fake_spoke import ALL_KINDS, destination_class, plugin
from spokehub_contracts import Change, Identifier

from .helpers import WRITE_KEY, feed

EMAIL = "chain@example.org"
CONFIG = {"base_url": "http://127.0.0.1:9"}


def _setup():
    merging = destination_class("merging", record_kinds=(*ALL_KINDS, "merge"))
    merging.capabilities = merging.capabilities.model_copy(update={"merges": True})
    plain = destination_class("plain", record_kinds=(*ALL_KINDS, "forget"))
    registry = Registry.load(allow=(), extra_plugins=[("fakes", plugin(merging, plain))])
    project = validate(
        {
            "connections": {
                "web": {"kind": "source", "write_keys": [WRITE_KEY]},
                "crm": {"kind": "destination", "spoke": "merging", "config": CONFIG},
                "ads": {"kind": "destination", "spoke": "plain", "config": CONFIG},
                "log": {"kind": "destination", "spoke": "plain", "config": CONFIG},
            },
            "routes": [
                {"name": "to-crm", "to": "crm", "kinds": ["upsert_person"]},
                {"name": "to-ads", "to": "ads", "kinds": ["upsert_person"]},
                {"name": "to-log", "to": "log", "kinds": ["event"]},
            ],
        },
        registry,
    )
    return project, registry


def _rows(engine, after: int = 0):
    with engine.connect() as conn:
        query = select(outbox).where(outbox.c.id > after).order_by(outbox.c.id)
        return [dict(r._mapping) for r in conn.execute(query)]


def _deliver_all(engine, rows, external: str = "vendor-{id}") -> None:
    """Note every row as delivered, as a lane does."""
    adapter = TypeAdapter(Change)
    by_destination: dict[str, list[Delivery]] = {}
    for row in rows:
        change = adapter.validate_json(row["item"])
        by_destination.setdefault(row["destination"], []).append(
            Delivery(change, external.format(id=row["id"]))
        )
    with engine.begin() as conn:
        for destination, delivered in by_destination.items():
            note(conn, destination, delivered)


def test_a_merge_reaches_each_destination_that_holds_the_absorbed_contact(engine):
    project, registry = _setup()
    pipeline = Pipeline(engine, project, registry, batch_size=50)
    feed(engine, [{"type": "identify", "anonymousId": "A1", "traits": {"plan": "pro"}}])
    feed(engine, [{"type": "identify", "anonymousId": "B1", "traits": {"email": EMAIL}}])
    pipeline.drain()
    before = _rows(engine)
    assert [(r["destination"], r["kind"]) for r in before] == [
        ("crm", "upsert_person"),
        ("ads", "upsert_person"),
        ("crm", "upsert_person"),
        ("ads", "upsert_person"),
    ]
    older, newer = before[0]["contact_id"], before[2]["contact_id"]
    _deliver_all(engine, before)
    with engine.connect() as conn:
        assert {(h.destination, h.contact_id) for h in holders(conn, [older, newer])} == {
            ("crm", older),
            ("ads", older),
            ("crm", newer),
            ("ads", newer),
        }

    feed(engine, [{"type": "identify", "anonymousId": "A1", "traits": {"email": EMAIL}}])
    pipeline.drain()
    rows = _rows(engine, before[-1]["id"])
    items = [(r["destination"], r["kind"], orjson.loads(r["item"])) for r in rows]
    crm = [(kind, item) for dest, kind, item in items if dest == "crm"]
    ads = [(kind, item) for dest, kind, item in items if dest == "ads"]
    assert [kind for kind, _ in crm][:2] == ["merge", "upsert_person"]
    merge = crm[0][1]
    assert (merge["contact_id"], merge["absorbed_contact_id"]) == (older, newer)
    assert merge["absorbed_external_id"] == f"vendor-{before[2]['id']}"
    assert merge["external_id"] == f"vendor-{before[0]['id']}"
    # The plain destination forgets the absorbed contact by what only it was known by
    # there (its e-mail and B1, never A1 that the survivor holds), then gets the survivor.
    assert [kind for kind, _ in ads][:2] == ["forget", "upsert_person"]
    forget = ads[0][1]
    assert forget["contact_id"] == newer
    assert {(i["type"], i["value"]) for i in forget["identifiers"]} == {
        ("anonymous_id", "B1"),
        ("email", EMAIL),
    }
    survivor = ads[1][1]
    assert survivor["contact_id"] == older
    assert {(i["type"], i["value"]) for i in survivor["identifiers"]} == {
        ("anonymous_id", "A1"),
        ("anonymous_id", "B1"),
        ("email", EMAIL),
    }
    assert survivor["person"]["attributes"] == {"plan": "pro"}
    # The destination that never held either contact hears nothing.
    assert not [r for r in rows if r["destination"] == "log"]

    # Once delivered, the absorbed contact is gone from both destinations' records.
    _deliver_all(engine, rows)
    with engine.connect() as conn:
        assert {(h.destination, h.contact_id) for h in holders(conn, [older, newer])} == {
            ("crm", older),
            ("ads", older),
        }

    last = rows[-1]["id"]
    with engine.begin() as conn:
        pair = (Identifier(type="anonymous_id", value="A1"), Identifier(type="email", value=EMAIL))
        result = unmerge(conn, project.identity, pair=pair)
        assert announce_splits(conn, project, registry, result.changes) == 4
    split = _rows(engine, last)
    assert {r["destination"] for r in split} == {"crm", "ads"}
    for destination in ("crm", "ads"):
        parts = [orjson.loads(r["item"]) for r in split if r["destination"] == destination]
        assert sorted(sorted(i["value"] for i in p["identifiers"]) for p in parts) == [
            ["A1"],
            ["B1", EMAIL],
        ]
        assert older in {p["contact_id"] for p in parts}


def test_spokehub_profiles_unmerge_re_upserts_both_parts(engine, store_url, run_cli, tmp_path):
    (tmp_path / "spokehub.yaml").write_text(
        f"""
store: {{url: '{store_url}'}}
connections:
  web: {{kind: source, write_keys: ["{WRITE_KEY}"]}}
  crm: {{kind: destination, spoke: files, config: {{path: crm.jsonl}}}}
routes:
  - {{to: crm, kinds: [upsert_person]}}
"""
    )
    registry = Registry.load(allow=("files",))
    project = validate(
        {
            "connections": {
                "web": {"kind": "source", "write_keys": [WRITE_KEY]},
                "crm": {"kind": "destination", "spoke": "files", "config": {"path": "crm.jsonl"}},
            },
            "routes": [{"to": "crm", "kinds": ["upsert_person"]}],
        },
        registry,
    )
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"email": EMAIL}}])
    Pipeline(engine, project, registry).drain()
    _deliver_all(engine, _rows(engine))
    last = _rows(engine)[-1]["id"]

    cut = run_cli(
        "profiles", "unmerge", "user_id:u1", f"email:{EMAIL}", env={"SPOKEHUB_PLUGINS": "files"}
    )
    assert cut.returncode == 0, cut.stderr
    assert "2 change(s) for the destinations that hold the profile" in cut.stdout
    parts = [orjson.loads(r["item"]) for r in _rows(engine, last)]
    assert sorted(sorted(i["value"] for i in p["identifiers"]) for p in parts) == [[EMAIL], ["u1"]]


def test_a_destination_that_only_receives_events_keeps_the_absorbed_history(engine):
    project, registry = _setup()
    pipeline = Pipeline(engine, project, registry, batch_size=50)
    feed(engine, [{"type": "track", "anonymousId": "A1", "event": "Page Viewed"}])
    feed(engine, [{"type": "identify", "anonymousId": "B1", "traits": {"email": EMAIL}}])
    feed(engine, [{"type": "track", "anonymousId": "B1", "event": "Page Viewed"}])
    pipeline.drain()
    before = _rows(engine)
    _deliver_all(engine, before)
    assert {r["destination"] for r in before if r["kind"] == "event"} == {"log"}

    feed(engine, [{"type": "identify", "anonymousId": "A1", "traits": {"email": EMAIL}}])
    pipeline.drain()
    after = _rows(engine, before[-1]["id"])
    assert not [r for r in after if r["destination"] == "log"]
