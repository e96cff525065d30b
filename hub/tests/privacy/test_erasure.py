"""Erasure: a forget request leaves the store with none of the person's e-mail or phone,
in any table nor in the bytes of the SQLite file and its write-ahead log; each
destination gets its delete through the lanes and a receipt; suppressed identifiers
keep new records out; an access request exports the person's data."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, text

from spokehub.config import validate
from spokehub.delivery import build_lanes
from spokehub.ingest import check_message, write_messages
from spokehub.ingest.limits import IngestSettings
from spokehub.pipeline import Pipeline
from spokehub.privacy.erase import carry_out, carry_out_pending
from spokehub.privacy.requests import file_request, read_request
from spokehub.privacy.settle import settle
from spokehub.privacy.tables import suppressions
from spokehub.registry import Registry
from spokehub.store.driver_sql import transaction
from spokehub.store.tables import inbox
from spokehub.testing.fake_spoke import destination_class, plugin
from spokehub_contracts import Identifier, PrivacyAction

WRITE_KEY = "wk-privacy"


def feed(engine, messages, source="web") -> int:
    settings = IngestSettings()
    accepted = [
        check_message(f"batch[{i}]", m, "2024-05-01T00:00:00+00:00", settings)
        for i, m in enumerate(messages)
    ]
    return write_messages(engine, source, accepted, dedup_window=3600).stored


EMAIL_SENT = "Ada.Lovelace@Example.com"
EMAIL = "ada.lovelace@example.com"
PHONE_SENT = "+44 20 7946 0958"
PHONE = "+442079460958"
OTHER = "grace@example.org"
#: Every form the person's contact data was stored in.
FORMS = (EMAIL_SENT, EMAIL, PHONE_SENT, PHONE, "2079460958", "20 7946 0958")
ADS = destination_class("ads-tool")  # no delete: its receipt says so


def setup(tmp_path: Path):
    registry = Registry.load(allow=["files"], extra_plugins=[("fake", plugin(ADS))])
    project = validate(
        {
            "connections": {
                "web": {"kind": "source", "write_keys": [WRITE_KEY]},
                "crm": {
                    "kind": "destination",
                    "spoke": "files",
                    "config": {"path": str(tmp_path / "crm.jsonl")},
                },
                "ads": {
                    "kind": "destination",
                    "spoke": "ads-tool",
                    "config": {"base_url": "http://127.0.0.1:9"},
                },
            },
            "routes": [{"to": "crm"}],
        },
        registry,
    )
    return project, registry


def person_messages():
    return [
        {
            "type": "identify",
            "userId": "u-ada",
            "messageId": "m1",
            "traits": {"email": EMAIL_SENT, "phone": PHONE_SENT, "firstName": "Ada"},
        },
        {
            "type": "track",
            "userId": "u-ada",
            "event": "Order Completed",
            "messageId": "m2",
            "properties": {"note": f"call {PHONE_SENT}"},
        },
        # Breaks the contract (age is a number): quarantined with the raw e-mail in it.
        {
            "type": "identify",
            "userId": "u-ada",
            "messageId": "m3",
            "traits": {"email": EMAIL_SENT, "age": "very old"},
        },
        {"type": "identify", "userId": "u-grace", "messageId": "m4", "traits": {"email": OTHER}},
        {
            "type": "identify",
            "anonymousId": "anon-ada",
            "messageId": "m5",
            "traits": {"email": EMAIL_SENT},
        },
    ]


def deliver(engine, project, registry):
    async def run():
        for lane in build_lanes(engine, project, registry):
            await lane.run_once()

    asyncio.run(run())


def dump_every_table(engine) -> str:
    with engine.connect() as conn:
        names = inspect(conn).get_table_names()
        return "\n".join(
            repr(row) for name in names for row in conn.execute(text(f'SELECT * FROM "{name}"'))
        )


def raw_bytes(db: Path) -> bytes:
    out = db.read_bytes()
    for suffix in ("-wal", "-journal"):
        side = Path(f"{db}{suffix}")
        if side.exists():
            out += side.read_bytes()
    return out


def where_in_file(db: Path, form: str) -> str:
    """Where the raw bytes hold ``form`` (never the bytes themselves): the file or its
    log, the page, the b-tree that owns it, the free-list length; so that a failure says
    which write left it behind."""
    needle = form.lower().encode()
    found = []
    for suffix in ("", "-wal", "-journal"):
        side = Path(f"{db}{suffix}")
        at = side.read_bytes().lower().find(needle) if side.exists() else -1
        if at >= 0:
            found.append(f"{side.name} at byte {at}")
    with sqlite3.connect(db) as conn:
        size = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        owner: object = "?"
        at = db.read_bytes().lower().find(needle)
        if at >= 0:
            try:
                owner = (
                    conn.execute(
                        "SELECT name, pagetype FROM dbstat WHERE pageno = ?", (at // size + 1,)
                    ).fetchall()
                    or "a free page"
                )
            except sqlite3.Error:
                owner = "(no dbstat)"
    return f"a form of the e-mail in {', '.join(found)}; owner {owner}; free pages {free}"


def test_forget_leaves_no_trace_in_any_table_nor_in_the_file_and_its_wal(tmp_path):
    from spokehub.store import create_store_engine, upgrade

    db = tmp_path / "hub.db"
    engine = create_store_engine(f"sqlite:///{db}")
    upgrade(engine)
    project, registry = setup(tmp_path)
    feed(engine, person_messages())
    Pipeline(engine, project, registry).drain()
    deliver(engine, project, registry)
    before = dump_every_table(engine)
    assert EMAIL in before and PHONE in before and EMAIL_SENT in before
    assert EMAIL in (tmp_path / "crm.jsonl").read_text()

    with transaction(engine) as conn:
        request_id = file_request(
            conn,
            PrivacyAction.DELETE_AND_SUPPRESS,
            [Identifier.parse(f"email:{EMAIL_SENT}")],
            source="cli",
        )
    assert carry_out(engine, project, registry, request_id)
    with transaction(engine, readonly=True) as conn:
        view = read_request(conn, request_id)
    assert view.status == "waiting"
    assert {r.destination: r.status for r in view.receipts} == {
        "ads": "not_supported",
        "crm": "pending",
    }
    assert view.summary["erased"]["quarantine"] == 1
    assert view.summary["erased"]["inbox"] == 4  # m1, m2, m3 and m5, never grace's m4
    assert view.summary["suppressed"] >= 4  # email, phone, user id, anonymous id

    deliver(engine, project, registry)  # the forget goes out like any change
    assert settle(engine) == 1
    with transaction(engine, readonly=True) as conn:
        view = read_request(conn, request_id)
    assert view.status == "done" and view.finished_at is not None
    crm = next(r for r in view.receipts if r.destination == "crm")
    assert crm.status == "deleted"
    assert EMAIL not in (tmp_path / "crm.jsonl").read_text()

    # The store: no form of the e-mail or phone in any table, nor in the raw bytes of
    # the database file and its WAL (free pages included).
    after = dump_every_table(engine)
    blob = raw_bytes(db).lower()
    for form in FORMS:
        assert form.lower() not in after.lower(), form
        assert form.lower().encode() not in blob, where_in_file(db, form)
    assert OTHER in after  # the other person is untouched

    # A new event carrying the e-mail is dropped and counted, not stored.
    feed(
        engine,
        [{"type": "identify", "userId": "u-new", "messageId": "m9", "traits": {"email": EMAIL}}],
    )
    Pipeline(engine, project, registry).drain()
    with transaction(engine, readonly=True) as conn:
        assert conn.execute(select(inbox.c.id).where(inbox.c.message_id == "m9")).first() is None
        assert sum(conn.execute(select(suppressions.c.dropped)).scalars()) == 1
    after = dump_every_table(engine)
    assert EMAIL not in after and "u-new" not in after
    engine.dispose()


def test_access_exports_the_person_with_personal_fields_marked_then_unsuppress(engine, tmp_path):
    project, registry = setup(tmp_path)
    feed(engine, person_messages())
    Pipeline(engine, project, registry).drain()
    from spokehub.privacy.export import export_subject

    with transaction(engine, readonly=True) as conn:
        data = export_subject(conn, project.identity, [Identifier.parse(f"phone:{PHONE}")])
    (profile,) = data["profiles"]
    assert profile["traits"]["email"]["value"] == EMAIL
    assert profile["traits"]["email"]["personal"] == "contact"
    assert profile["traits"]["first_name"]["personal"] == "contact"
    assert "Order Completed" in [e["event"] for e in profile["events"]]
    assert {i["type"]: i["personal"] for i in profile["identifiers"]}["email"] == "contact"
    json.dumps(data)  # plain JSON

    with transaction(engine) as conn:
        forget = file_request(
            conn, "delete_and_suppress", [Identifier.parse("user_id:u-ada")], source="api"
        )
        lift = file_request(conn, "unsuppress", [Identifier.parse(f"email:{EMAIL}")], source="api")
    assert carry_out_pending(engine, project, registry) == 2
    with transaction(engine, readonly=True) as conn:
        assert conn.execute(select(suppressions)).first() is None
        assert read_request(conn, lift).summary["unsuppressed"] >= 4
        assert read_request(conn, forget).status == "waiting"
    # Back again: the e-mail is stored as a new person's.
    feed(
        engine,
        [{"type": "identify", "userId": "u-back", "messageId": "m10", "traits": {"email": EMAIL}}],
    )
    Pipeline(engine, project, registry).drain()
    assert EMAIL in dump_every_table(engine)


@pytest.mark.parametrize(
    ("body", "found"),
    [
        ('{"traits": {"phone": "(020) 7946-0958"}}', True),
        ('{"note": "mail ADA.Lovelace@example.COM"}', True),
        ('{"userId": "u-ada"}', True),
        ('{"userId": "u-ada-2"}', False),
        ('{"timestamp": "2024-05-01T00:00:00Z", "n": 123}', False),
    ],
)
def test_the_raw_matcher_finds_the_person_in_any_form(body, found):
    from spokehub.privacy.erase import RawMatcher

    match = RawMatcher({("email", EMAIL), ("phone", PHONE), ("user_id", "u-ada")})
    assert match(body) is found


def test_a_sources_privacy_request_record_is_filed_not_stored(sqlite_engine, tmp_path):
    import orjson
    from sqlalchemy import func

    from spokehub.identity.tables import identifiers as identifier_rows
    from spokehub.privacy.tables import privacy_requests
    from spokehub_contracts import PrivacyRequest, SourceRecord, utcnow

    engine = sqlite_engine
    project, registry = setup(tmp_path)
    record = SourceRecord(
        stream="customers_redact",
        record_id="redact-1",
        identifiers=(Identifier.parse("email:someone@example.com"),),
        data=PrivacyRequest(action=PrivacyAction.ACCESS, reference="shop-42"),
    )
    with transaction(engine) as conn:
        conn.execute(
            inbox.insert(),
            {
                "connection": "web",
                "kind": "record",
                "body": orjson.dumps(record.model_dump(mode="json")).decode(),
                "received_at": utcnow(),
            },
        )
    Pipeline(engine, project, registry).drain()
    with transaction(engine, readonly=True) as conn:
        (row,) = conn.execute(select(privacy_requests)).all()
        assert (row.action, row.source, row.reference) == ("access", "web", "shop-42")
        assert conn.execute(select(func.count()).select_from(identifier_rows)).scalar_one() == 0
    assert carry_out_pending(engine, project, registry) == 1


def test_a_request_whose_process_died_while_erasing_is_taken_again(sqlite_engine, tmp_path):
    from datetime import timedelta

    from sqlalchemy import update

    from spokehub.privacy.tables import privacy_requests
    from spokehub_contracts import utcnow

    engine = sqlite_engine
    project, registry = setup(tmp_path)
    with transaction(engine) as conn:
        request_id = file_request(conn, "delete", [Identifier.parse("user_id:gone")], source="cli")
        conn.execute(
            update(privacy_requests).values(
                status="erasing", claimed_at=utcnow() - timedelta(minutes=1)
            )
        )
    assert carry_out_pending(engine, project, registry) == 0  # another process may be at it
    with transaction(engine) as conn:
        conn.execute(update(privacy_requests).values(claimed_at=utcnow() - timedelta(hours=1)))
    assert carry_out_pending(engine, project, registry) == 1
    with transaction(engine, readonly=True) as conn:
        assert read_request(conn, request_id).status == "waiting"


def test_forget_leaves_no_trace_in_any_table_on_either_store(engine, tmp_path):
    project, registry = setup(tmp_path)
    feed(engine, person_messages())
    Pipeline(engine, project, registry).drain()
    deliver(engine, project, registry)
    with transaction(engine) as conn:
        request_id = file_request(
            conn, PrivacyAction.DELETE, [Identifier.parse("user_id:u-ada")], source="cli"
        )
    assert carry_out(engine, project, registry, request_id)
    deliver(engine, project, registry)
    assert settle(engine) == 1
    after = dump_every_table(engine).lower()
    for form in FORMS:
        assert form.lower() not in after, form
    assert OTHER in after
