"""Consent through the pipeline: Segment's ``context.consent`` and consent records enter
the ledger; a change of the current state goes, as a ``consent`` change, to every
destination that accepts the kind; ``POST /v1/consent`` takes the same road."""

from __future__ import annotations

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from spokehub.api import create_app
from spokehub.config import validate
from spokehub.pipeline import Pipeline
from spokehub.profiles.tables import consent_ledger, consents
from spokehub.registry import Registry
from spokehub.testing.fake_spoke import ALL_KINDS, destination_class, plugin

from .helpers import WRITE_KEY, feed, outbox_rows

TOKEN = "t" * 40
MAILER = destination_class("mailer", record_kinds=(*ALL_KINDS, "consent"))
ADS = destination_class("ads-tool")


def _setup():
    registry = Registry.load(allow=[], extra_plugins=[("fake", plugin(MAILER, ADS))])
    project = validate(
        {
            "server": {"admin_token": TOKEN},
            "connections": {
                "web": {"kind": "source", "write_keys": [WRITE_KEY]},
                "mail": {
                    "kind": "destination",
                    "spoke": "mailer",
                    "config": {"base_url": "http://127.0.0.1:9"},
                },
                "ads": {
                    "kind": "destination",
                    "spoke": "ads-tool",
                    "config": {"base_url": "http://127.0.0.1:9"},
                },
            },
            "routes": [{"to": "ads", "kinds": ["event"]}],
            "consent": {
                "categories": {"Advertising": "ads_personalization", "Analytics": "analytics"}
            },
        },
        registry,
    )
    return project, registry


def _track(n: int, prefs: dict | None) -> dict:
    msg = {
        "type": "track",
        "event": "Viewed",
        "userId": "u1",
        "messageId": f"m{n}",
        "timestamp": f"2024-05-01T00:00:0{n}Z",
    }
    if prefs is not None:
        msg["context"] = {"consent": {"categoryPreferences": prefs}}
    return msg


def _ledger(engine):
    with engine.connect() as conn:
        return [
            (r.purpose, r.granted, r.source, r.evidence)
            for r in conn.execute(select(consent_ledger).order_by(consent_ledger.c.id))
        ]


def test_segment_consent_enters_the_ledger_and_reaches_consent_destinations(engine):
    project, registry = _setup()
    feed(engine, [_track(1, {"Advertising": True, "Analytics": True, "Other": False})])
    Pipeline(engine, project, registry).drain()
    feed(engine, [_track(2, {"Advertising": False, "Analytics": True})])
    feed(engine, [_track(3, {"Advertising": False, "Analytics": True})])
    feed(engine, [_track(4, {})])
    feed(engine, [_track(5, None)])
    Pipeline(engine, project, registry).drain()

    assert _ledger(engine) == [
        ("ads_personalization", True, "web", "m1"),
        ("analytics", True, "web", "m1"),
        ("ads_personalization", False, "web", "m2"),
        # m3 repeats m2: not a change of mind. m4's empty object denies every mapped one.
        ("analytics", False, "web", "m4"),
    ]
    rows = outbox_rows(engine)
    sent = [(r["destination"], r["kind"], r["route"]) for r in rows if r["kind"] == "consent"]
    # Only the destination that accepts the kind hears of it, once per change, unrouted.
    assert sent == [("mail", "consent", "(consent)")] * 4
    changes = [orjson.loads(r["item"]) for r in rows if r["kind"] == "consent"]
    assert [(c["consent"]["purpose"], c["consent"]["granted"]) for c in changes] == [
        ("ads_personalization", True),
        ("analytics", True),
        ("ads_personalization", False),
        ("analytics", False),
    ]
    assert changes[0]["identifiers"] == [{"type": "user_id", "value": "u1"}]
    # The events themselves still go where their route says; the gate decides at send time.
    assert [r["destination"] for r in rows if r["kind"] == "event"] == ["ads"] * 5


def test_post_consent_goes_through_the_inbox_to_the_ledger(engine):
    project, registry = _setup()
    feed(engine, [_track(1, None)])
    client = TestClient(create_app(project, registry, engine))
    headers = {"Authorization": f"Bearer {TOKEN}"}
    body = {
        "identifiers": ["user_id:u1", "email:Ada@Example.com"],
        "purpose": "email_marketing",
        "granted": False,
        "source": "support-desk",
        "evidence": "ticket-42",
        "recorded_at": "2024-05-02T10:00:00Z",
    }
    assert client.post("/v1/consent", json=body).status_code == 401
    answer = client.post("/v1/consent", json=body, headers=headers)
    assert answer.status_code == 200, answer.text
    assert answer.json()["success"] is True
    bad = client.post("/v1/consent", json={**body, "identifiers": ["email:nope"]}, headers=headers)
    assert bad.status_code == 422 and "identifiers[0]" in bad.text
    wrong = client.post("/v1/consent", json={**body, "purpose": "spam"}, headers=headers)
    assert wrong.status_code == 422 and "purpose" in wrong.text
    Pipeline(engine, project, registry).drain()
    assert _ledger(engine) == [("email_marketing", False, "support-desk", "ticket-42")]
    with engine.connect() as conn:
        assert conn.execute(select(consents.c.granted)).scalar_one() is False
    [change] = [r for r in outbox_rows(engine) if r["kind"] == "consent"]
    identifiers = {(i["type"], i["value"]) for i in orjson.loads(change["item"])["identifiers"]}
    # The profile's identifiers, the e-mail normalized, so a tool finds the person.
    assert identifiers == {("user_id", "u1"), ("email", "ada@example.com")}
    profile = client.get("/v1/profiles", params={"identifier": "user_id:u1"}, headers=headers)
    view = profile.json()["profile"]
    assert view["consents"]["email_marketing"]["granted"] is False
    assert view["consent_history"][0]["evidence"] == "ticket-42"


def test_segment_categories_decide_every_mapped_purpose():
    from datetime import UTC, datetime

    from spokehub.pipeline.profiles import segment_consents
    from spokehub_contracts import Event

    categories = {
        "Advertising": "ads_personalization",
        "Targeting": "ads_personalization",
        "Analytics": "analytics",
    }
    at = datetime(2024, 5, 1, tzinfo=UTC)

    def decide(context):
        event = Event.model_validate({"type": "page", "userId": "u", "context": context})
        found = segment_consents(event, categories, "web", at)
        return {c.purpose.value: c.granted for c in found}

    prefs = {"Advertising": True, "Targeting": True, "Analytics": "yes", "Other": False}
    assert decide({"consent": {"categoryPreferences": prefs}}) == {
        "ads_personalization": True,
        # Only true grants: a string is no consent.
        "analytics": False,
    }
    # A denial of either category on one purpose denies it; an absent one denies too.
    assert decide({"consent": {"categoryPreferences": {"Advertising": True}}}) == {
        "ads_personalization": False,
        "analytics": False,
    }
    assert decide({"consent": {"categoryPreferences": {}}}) == {
        "ads_personalization": False,
        "analytics": False,
    }
    assert decide({}) == {}
    assert decide({"consent": {"categoryPreferences": "all"}}) == {}


def test_a_merge_tells_the_tools_a_denial_the_other_profile_held(engine):
    project, registry = _setup()
    denied = {"consent": {"categoryPreferences": {}}}
    feed(engine, [{"type": "page", "anonymousId": "anon-1", "messageId": "a1", "context": denied}])
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}}])
    Pipeline(engine, project, registry).drain()
    before = [r for r in outbox_rows(engine) if r["kind"] == "consent"]
    assert len(before) == 2  # the anonymous profile's two denials

    feed(engine, [{"type": "identify", "userId": "u1", "anonymousId": "anon-1", "messageId": "m"}])
    Pipeline(engine, project, registry).drain()
    merged = [r for r in outbox_rows(engine) if r["kind"] == "consent"][2:]
    # The merge: u1's tools hear both denials, by every identifier of the merged profile.
    first = [orjson.loads(r["item"]) for r in merged]
    assert sorted(c["consent"]["purpose"] for c in first) == ["ads_personalization", "analytics"]
    assert all(c["consent"]["granted"] is False for c in first)
    assert {("user_id", "u1"), ("email", "ada@example.com"), ("anonymous_id", "anon-1")} <= {
        (i["type"], i["value"]) for i in first[0]["identifiers"]
    }
    assert [r["destination"] for r in merged] == ["mail"] * 2

    feed(engine, [{"type": "page", "anonymousId": "anon-2", "messageId": "a2", "context": denied}])
    Pipeline(engine, project, registry).drain()

    # Both sides already held the denials: a second merge tells nobody anything.
    feed(engine, [{"type": "identify", "userId": "u1", "anonymousId": "anon-2", "messageId": "n"}])
    Pipeline(engine, project, registry).drain()
    assert len([r for r in outbox_rows(engine) if r["kind"] == "consent"]) == 6
