"""Audience membership through the pipeline: entered and exited, sent to the mapped
destinations, decided only where a change can move it, and reconciled as time passes."""

from __future__ import annotations

from spokehub.activation import Activation

from .helpers import FakeClock, changes, feed, members, pipeline, project

AUDIENCES = {
    "customers": {
        "where": {"event": "Order Completed", "within_days": 30},
        "to": ["ads", "crm"],
        "purpose": "ads_personalization",
    },
    "prospects": {
        "where": {
            "all": [
                {"trait": "email", "exists": True},
                {"not": {"event": "Order Completed", "within_days": 30}},
            ]
        },
        "to": ["ads"],
    },
    "big_spenders": {
        "where": {"event": "Order Completed", "sum": {"property": "total", "gte": 100}},
    },
}


def _order(user: str, total: float, ts: str = "2026-01-01T00:00:00Z") -> dict:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "properties": {"total": total},
        "timestamp": ts,
    }


def test_an_order_moves_a_prospect_into_customers_and_out_when_it_ages(engine):
    clock = FakeClock()
    proj = project(AUDIENCES)
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}}])
    pipeline(engine, proj, clock).drain()
    (contact,) = {c for _, c in members(engine)}
    assert members(engine) == {("prospects", contact)}
    assert [(d, k, a) for d, k, a, *_ in changes(engine)] == [
        ("ads", "audience_entered", "prospects")
    ]

    feed(engine, [_order("u1", 60), _order("u1", 50)])
    pipeline(engine, proj, clock).drain()
    assert members(engine) == {("customers", contact), ("big_spenders", contact)}
    moved = [(d, k, a, p) for d, k, a, _, p, _ in changes(engine)][1:]
    assert moved == [
        ("ads", "audience_entered", "customers", "ads_personalization"),
        ("crm", "audience_entered", "customers", "ads_personalization"),
        ("ads", "audience_exited", "prospects", None),
    ]
    # The change names the person as destinations match them.
    item = changes(engine)[1][5]
    assert {"type": "email", "value": "ada@example.com"} in item["identifiers"]

    # Thirty-one days on, with no new data: only the reconcile sees the order age out.
    clock.advance(days=31)
    activation = Activation(proj, clock)
    first = activation.reconcile(engine)
    assert set(first.full) == set(AUDIENCES)  # never reconciled: decided in full
    assert members(engine) == {("prospects", contact), ("big_spenders", contact)}
    tail = [(d, k, a) for d, k, a, *_ in changes(engine)][4:]
    assert tail == [
        ("ads", "audience_exited", "customers"),
        ("crm", "audience_exited", "customers"),
        ("ads", "audience_entered", "prospects"),
    ]
    # Nothing moved since: the next reconcile decides nobody and sends nothing.
    again = activation.reconcile(engine)
    assert again.full == [] and again.outbox == 0 and sum(again.decided.values()) == 0


def test_a_change_decides_only_the_audiences_that_read_it(engine):
    clock = FakeClock()
    proj = project(
        {
            "pro": {"where": {"trait": "plan", "eq": "pro"}, "to": ["crm"]},
            "scored": {"where": {"score": "churn_risk", "gte": 0.5}},
        }
    )
    p = pipeline(engine, proj, clock)
    index = p.activation.activation.audiences
    from spokehub.audiences.index import Touched

    assert index.affected(Touched(traits={"plan"})) == {"pro"}
    assert index.affected(Touched(events={"Page Viewed"})) == set()
    assert index.affected(Touched(scores={"churn_risk"})) == {"scored"}
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"plan": "pro"}}])
    p.drain()
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"plan": "free"}}])
    p.drain()
    assert [(d, k, a) for d, k, a, *_ in changes(engine)] == [
        ("crm", "audience_entered", "pro"),
        ("crm", "audience_exited", "pro"),
    ]
    assert members(engine) == set()


def test_a_merge_hands_memberships_to_the_survivor_without_an_exit(engine):
    clock = FakeClock()
    proj = project(AUDIENCES)
    p = pipeline(engine, proj, clock)
    visitor = {**_order("x", 60), "anonymousId": "a1"}
    del visitor["userId"]
    feed(
        engine,
        [visitor, {"type": "identify", "userId": "u1", "traits": {"email": "ada@example.com"}}],
    )
    p.drain()
    assert {a for a, _ in members(engine)} == {"customers", "prospects"}
    before = len(changes(engine))
    # The visitor logs in: one person, who bought.
    feed(engine, [{"type": "identify", "userId": "u1", "anonymousId": "a1"}])
    p.drain()
    (survivor,) = {c for _, c in members(engine)}
    assert members(engine) == {("customers", survivor)}
    after = [(d, k, a) for d, k, a, *_ in changes(engine)][before:]
    assert ("ads", "audience_exited", "customers") not in after
    assert ("crm", "audience_exited", "customers") not in after
    # The survivor, if it was the prospect, leaves prospects; nothing else moves.
    assert set(after) <= {("ads", "audience_exited", "prospects")}
    # And the reconcile, deciding everything in full, agrees.
    clock.advance(seconds=1)
    assert Activation(proj, clock).reconcile(engine).outbox == 0
