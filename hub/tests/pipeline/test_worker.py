"""The pipeline: validation, quarantine, resolution, timeline, routing to the outbox."""

from __future__ import annotations

import orjson
from sqlalchemy import func, select

from spokehub.pipeline import Pipeline, list_quarantine, replay
from spokehub.store.tables import events, inbox

from .helpers import feed, feed_raw, outbox_rows, project, quarantined, registry, statuses


def run(engine, routes=None):
    return Pipeline(engine, project(routes), registry(), batch_size=50).drain()


def test_identify_and_track_reach_profile_timeline_and_outbox(engine):
    feed(
        engine,
        [
            {
                "type": "identify",
                "userId": "u1",
                "anonymousId": "a1",
                "traits": {"email": "ada@example.com", "firstName": "Ada", "plan": "pro"},
            },
            {
                "type": "track",
                "anonymousId": "a1",
                "event": "Order Completed",
                "properties": {"total": 12},
            },
        ],
    )
    stats = run(engine)
    assert (stats.processed, stats.quarantined) == (2, 0)
    assert statuses(engine) == ["processed", "processed"]
    rows = outbox_rows(engine)
    assert [r["kind"] for r in rows] == ["upsert_person", "event"]
    assert {r["destination"] for r in rows} == {"crm"}
    assert rows[0]["contact_id"] == rows[1]["contact_id"] is not None
    assert rows[0]["route"] == "to-crm" and rows[0]["status"] == "pending"
    person = orjson.loads(rows[0]["item"])
    assert person["person"]["first_name"] == "Ada"
    assert person["person"]["email"] == "ada@example.com"
    assert person["person"]["attributes"]["plan"] == "pro"
    assert person["item_id"] != orjson.loads(rows[1]["item"])["item_id"]
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 2


def test_routes_filter_by_kind_source_and_event_name(engine):
    routes = [
        {"to": "crm", "kinds": ["event"], "events": ["Signed Up"], "purpose": "analytics"},
        {"to": "ads", "from": ["app"], "kinds": ["event"]},
    ]
    feed(
        engine,
        [
            {"type": "track", "userId": "u1", "event": "Signed Up"},
            {"type": "track", "userId": "u1", "event": "Other"},
            {"type": "identify", "userId": "u1", "traits": {"name": "x"}},
        ],
    )
    feed(engine, [{"type": "track", "userId": "u2", "event": "Other"}], source="app")
    run(engine, routes)
    rows = outbox_rows(engine)
    assert [(r["destination"], r["route"], r["purpose"]) for r in rows] == [
        ("crm", "0", "analytics"),
        ("ads", "1", None),
    ]


def test_contract_violation_is_quarantined_with_field_and_rule(engine):
    feed_raw(engine, {"type": "track", "userId": "u1", "event": "x", "timestamp": "soon"})
    feed_raw(engine, {"type": "identify", "userId": "u1", "traits": {"age": "old"}})
    feed_raw(engine, "{not json")
    feed(engine, [{"type": "track", "userId": "u1", "event": "fine"}])
    stats = run(engine)
    assert (stats.processed, stats.quarantined) == (1, 3)
    q = quarantined(engine)
    assert [(r["stage"], r["field"]) for r in q] == [
        ("validate", "timestamp"),
        ("contract", "traits.age"),
        ("validate", "(record)"),
    ]
    assert all("soon" not in r["rule"] and "old" not in r["rule"] for r in q)
    assert statuses(engine) == ["quarantined", "quarantined", "quarantined", "processed"]


def test_replay_puts_quarantined_records_back(engine):
    feed_raw(engine, {"type": "identify", "userId": "u1", "traits": {"age": "old"}})
    run(engine)
    listed = list_quarantine(engine)
    assert len(listed) == 1 and listed[0].field == "traits.age"
    assert replay(engine) == 1
    assert list_quarantine(engine) == []
    assert statuses(engine) == ["quarantined", "pending"]
    run(engine)  # still broken: quarantined again, with the same reason
    assert [r.field for r in list_quarantine(engine)] == ["traits.age"]


def test_group_call_creates_account_and_membership(engine):
    feed(
        engine,
        [
            {
                "type": "group",
                "userId": "u1",
                "groupId": "acme",
                "traits": {"name": "Acme", "employees": 50},
            }
        ],
    )
    run(engine, [{"to": "crm", "kinds": ["upsert_account", "upsert_membership"]}])
    items = [orjson.loads(r["item"]) for r in outbox_rows(engine)]
    assert [i["kind"] for i in items] == ["upsert_account", "upsert_membership"]
    assert items[0]["account"]["account_id"] == "acme"
    assert items[1]["membership"]["account_id"] == "acme"


def test_empty_inbox_is_idle(engine):
    assert run(engine).claimed == 0


def test_a_record_failing_half_way_is_quarantined_alone_with_nothing_of_it_kept(
    engine, monkeypatch
):
    """Records are applied without a savepoint each; one that fails after some of its
    writes sends the batch round again with that record set aside, so its writes are
    undone, it is quarantined with its reason, and the others are applied once."""
    from spokehub.pipeline import worker
    from spokehub.profiles.tables import traits

    real = worker.apply_record
    calls: list[str] = []

    def apply_record(conn, rules, record_id, connection, record, *rest):
        user = next(i.value for i in record.identifiers if i.type == "user_id")
        calls.append(user)
        applied = real(conn, rules, record_id, connection, record, *rest)  # writes traits
        if user == "u2":
            raise ValueError("this record's data breaks a profile rule")
        return applied

    monkeypatch.setattr(worker, "apply_record", apply_record)
    feed(
        engine,
        [
            {"type": "track", "userId": "u1", "event": "Before"},
            {"type": "identify", "userId": "u2", "traits": {"plan": "poison"}},
            {"type": "identify", "userId": "u3", "traits": {"plan": "pro"}},
        ],
    )
    stats = run(engine)
    assert (stats.processed, stats.quarantined) == (2, 1)
    assert statuses(engine) == ["processed", "quarantined", "processed"]
    assert [(r["stage"], r["rule"]) for r in quarantined(engine)] == [
        ("resolve", "profile update failed (ValueError)")
    ]
    with engine.connect() as conn:
        plans = conn.execute(select(traits.c.value).where(traits.c.name == "plan")).scalars()
        assert list(plans) == ["pro"]  # the failed record's trait write was undone
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 2
    # Applied until u2 failed, then the batch again without it.
    assert calls == ["u1", "u2", "u1", "u3"]


def test_many_records_failing_in_one_batch_end_with_a_savepoint_each(engine, monkeypatch):
    from spokehub.pipeline import worker

    real = worker.apply_record
    rounds: list[str] = []

    def apply_record(conn, rules, record_id, connection, record, *rest):
        user = next(i.value for i in record.identifiers if i.type == "user_id")
        rounds.append(user)
        applied = real(conn, rules, record_id, connection, record, *rest)
        if user.startswith("bad"):
            raise ValueError("poison")
        return applied

    monkeypatch.setattr(worker, "apply_record", apply_record)
    messages = [
        {"type": "track", "userId": f"{'bad' if n % 4 == 1 else 'ok'}{n}", "event": "E"}
        for n in range(20)
    ]
    feed(engine, messages)
    stats = run(engine)
    assert (stats.processed, stats.quarantined) == (15, 5)
    # Three records set aside one by one, then one more round with a savepoint each.
    assert rounds.count("ok0") == 4
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 15


def test_a_timestamp_without_a_utc_equivalent_is_quarantined_without_failing_its_batch(
    engine, monkeypatch
):
    """0001-01-01T00:00:00+05:00 parses, but is before the year 1 in UTC: it used to fail
    the batch where it was stored, and the batch went through one row at a time."""
    from spokehub.pipeline import Pipeline

    def no_bisecting(self):
        raise AssertionError("the batch failed as a whole")

    monkeypatch.setattr(Pipeline, "_bisect", no_bisecting)
    rows = [{"type": "track", "userId": f"u{n}", "event": "E"} for n in range(199)]
    for row in rows:
        feed_raw(engine, {**row, "messageId": row["userId"]})
    feed_raw(
        engine,
        {"type": "track", "userId": "u", "event": "E", "timestamp": "0001-01-01T00:00:00+05:00"},
    )
    stats = Pipeline(engine, project(), registry(), batch_size=200).run_batch()
    assert (stats.claimed, stats.processed, stats.quarantined) == (200, 199, 1)
    assert [(q["stage"], q["field"], q["rule"]) for q in quarantined(engine)] == [
        ("validate", "timestamp", "must be a moment between the years 1 and 9999 in UTC")
    ]


def test_a_row_that_fails_its_whole_batch_is_found_by_bisection(engine, monkeypatch):
    """A failure no step pins on a record (here: resolving a batch that holds the poison
    row) is narrowed down by halves, not by processing each row alone."""
    import math

    from spokehub.pipeline import Pipeline, worker

    real_resolve = worker.resolve

    def resolve(conn, rules, records, *rest):
        if any(rec.data.user_id == "poison" for _id, _source, rec in records):
            raise ArithmeticError("no step knows which record did this")
        return real_resolve(conn, rules, records, *rest)

    monkeypatch.setattr(worker, "resolve", resolve)
    transactions = []
    real_process = Pipeline._claim_and_process

    def counted(self, ids=None):
        transactions.append(ids)
        return real_process(self, ids)

    monkeypatch.setattr(Pipeline, "_claim_and_process", counted)
    n = 64
    feed(
        engine,
        [
            {"type": "track", "userId": "poison" if i == 37 else f"u{i}", "event": "E"}
            for i in range(n)
        ],
    )
    stats = Pipeline(engine, project(), registry(), batch_size=n).run_batch()
    assert (stats.claimed, stats.processed, stats.quarantined) == (n, n - 1, 1)
    assert [(q["stage"], q["rule"]) for q in quarantined(engine)] == [
        ("resolve", "processing failed (ArithmeticError)")
    ]
    # The batch, then two halves per level down to the row: not one transaction per row.
    assert len(transactions) <= 1 + 2 * math.ceil(math.log2(n))
    # Every row but the poison processed, in inbox order.
    assert statuses(engine) == ["processed"] * 37 + ["quarantined"] + ["processed"] * 26


def test_a_privacy_request_from_a_source_is_filed_and_makes_no_profile(engine):
    from spokehub.identity.tables import identifiers
    from spokehub.privacy.tables import privacy_requests
    from spokehub_contracts import Identifier, PrivacyRequest, SourceRecord

    record = SourceRecord(
        stream="privacy",
        record_id="redact-1",
        identifiers=(Identifier(type="email", value="gone@example.com"),),
        data=PrivacyRequest(action="delete", reference="redact-1"),
    )
    with engine.begin() as conn:
        conn.execute(
            inbox.insert(),
            {
                "connection": "web",
                "kind": "record",
                "body": record.model_dump_json(),
                "received_at": record.observed_at,
            },
        )
    stats = run(engine)
    assert stats.quarantined == 0
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(identifiers)).scalar() == 0
        [filed] = conn.execute(select(privacy_requests)).all()
    assert (filed.action, filed.status, filed.reference) == ("delete", "pending", "redact-1")
    assert filed.subject == ["email:gone@example.com"]
