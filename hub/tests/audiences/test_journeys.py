"""Journeys: a timer per profile when the trigger event arrives, fired once when due with
fields from the profile, cancelled when its condition stops holding."""

from __future__ import annotations

import threading

from spokehub.activation import Activation
from spokehub_contracts import Consent, Identifier, ScoredTrait, SourceRecord

from .helpers import FakeClock, changes, feed, feed_records, pipeline, project, timers

ONBOARDING = {
    "trigger": {"event": "Order Completed"},
    "after": "3d",
    "if": {"not": {"consent": "email_marketing", "granted": False}},
    "send": {
        "event": "Onboarding Due",
        "to": "mail",
        "properties": {"campaign": "welcome"},
        "fields": {
            "recommended_products": "scores.recommended_products",
            "first_name": "traits.first_name",
            "order_id": "trigger.order_id",
        },
    },
    "purpose": "email_marketing",
}


def _order(user: str, order_id: str) -> dict:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "properties": {"order_id": order_id, "total": 30},
    }


def _ident(user: str) -> tuple[Identifier, ...]:
    return (Identifier(type="user_id", value=user),)


def _sends(engine):
    return changes(engine, ("event",))


def test_an_order_schedules_one_onboarding_sent_when_due_with_profile_fields(engine):
    clock = FakeClock()
    proj = project(journeys={"onboarding": ONBOARDING})
    p = pipeline(engine, proj, clock)
    feed(
        engine,
        [
            {"type": "identify", "userId": "u1", "traits": {"firstName": "Ada"}},
            _order("u1", "o-1"),
        ],
    )
    feed_records(
        engine,
        [
            SourceRecord(
                stream="scores",
                identifiers=_ident("u1"),
                data=ScoredTrait(
                    name="recommended_products", value=["sku-1", "sku-2"], model="reco"
                ),
            )
        ],
    )
    p.drain()
    (timer,) = timers(engine)
    assert timer["status"] == "scheduled"
    # A second order schedules no second onboarding.
    feed(engine, [_order("u1", "o-2")])
    p.drain()
    assert len(timers(engine)) == 1

    activation = Activation(proj, clock)
    clock.advance(days=2)
    assert activation.fire(engine).fired == 0
    clock.advance(days=1, seconds=1)
    fired = activation.fire(engine)
    assert (fired.fired, fired.outbox) == (1, 1)
    assert activation.fire(engine).fired == 0  # once
    ((dest, kind, name, _contact, purpose, item),) = _sends(engine)
    assert (dest, kind, name, purpose) == ("mail", "event", "Onboarding Due", "email_marketing")
    assert item["event"]["properties"] == {
        "campaign": "welcome",
        "recommended_products": ["sku-1", "sku-2"],
        "first_name": "Ada",
        "order_id": "o-1",
    }
    assert {"type": "user_id", "value": "u1"} in item["identifiers"]
    assert timers(engine)[0]["status"] == "fired"
    # Fired: the journey is done for this profile, another order starts nothing.
    feed(engine, [_order("u1", "o-3")])
    p.drain()
    assert len(timers(engine)) == 1


def test_a_timer_is_cancelled_when_its_condition_stops_holding(engine):
    clock = FakeClock()
    proj = project(journeys={"onboarding": ONBOARDING})
    p = pipeline(engine, proj, clock)
    feed(engine, [_order("u1", "o-1")])
    p.drain()
    assert timers(engine)[0]["status"] == "scheduled"
    clock.advance(days=1)
    feed_records(
        engine,
        [
            SourceRecord(
                stream="consents",
                identifiers=_ident("u1"),
                data=Consent(
                    purpose="email_marketing",
                    granted=False,
                    source="klaviyo",
                    recorded_at=clock.now(),
                ),
            )
        ],
    )
    p.drain()
    (timer,) = timers(engine)
    assert (timer["status"], timer["reason"]) == ("cancelled", "condition no longer holds")
    clock.advance(days=5)
    assert Activation(proj, clock).fire(engine).fired == 0
    assert _sends(engine) == []


def test_reenter_starts_again_after_each_send(engine):
    clock = FakeClock()
    proj = project(journeys={"onboarding": {**ONBOARDING, "reenter": True}})
    p = pipeline(engine, proj, clock)
    activation = Activation(proj, clock)
    feed(engine, [_order("u1", "o-1"), _order("u1", "o-2")])
    p.drain()
    assert len(timers(engine)) == 1  # one waiting at a time
    clock.advance(days=4)
    assert activation.fire(engine).fired == 1
    feed(engine, [_order("u1", "o-3")])
    p.drain()
    assert [t["status"] for t in timers(engine)] == ["fired", "scheduled"]


def test_concurrent_firers_fire_each_timer_once(engine):
    clock = FakeClock()
    proj = project(journeys={"onboarding": {**ONBOARDING, "if": None}})
    p = pipeline(engine, proj, clock)
    feed(engine, [_order(f"u{i}", f"o-{i}") for i in range(40)])
    p.drain()
    assert len(timers(engine)) == 40
    clock.advance(days=4)
    results = []

    def fire() -> None:
        results.append(Activation(proj, clock).fire(engine, limit=3).fired)

    threads = [threading.Thread(target=fire) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(results) == 40
    sends = _sends(engine)
    assert len(sends) == 40 and len({s[3] for s in sends}) == 40


def test_two_timers_of_people_merged_into_one_send_once_to_the_survivor(engine):
    clock = FakeClock()
    proj = project(journeys={"onboarding": {**ONBOARDING, "if": None}})
    p = pipeline(engine, proj, clock)
    anonymous = {**_order("x", "o-1"), "anonymousId": "a1"}
    del anonymous["userId"]
    feed(engine, [anonymous, _order("u1", "o-2")])
    p.drain()
    assert len({t["contact_id"] for t in timers(engine)}) == 2
    # The visitor logs in: one person.
    feed(engine, [{"type": "identify", "userId": "u1", "anonymousId": "a1"}])
    p.drain()
    clock.advance(days=4)
    fired = Activation(proj, clock).fire(engine)
    assert (fired.fired, fired.cancelled) == (1, 1)
    assert fired.reasons == {"merged into a profile it was sent to": 1}
    ((_, _, _, contact, _, item),) = _sends(engine)
    from spokehub.identity.lookup import live_contact_id

    with engine.connect() as conn:
        assert all(live_contact_id(conn, t["contact_id"]) == contact for t in timers(engine))
    assert {"type": "anonymous_id", "value": "a1"} in item["identifiers"]


def test_an_erasure_removes_memberships_and_cancels_timers(engine):
    from spokehub.activation import erase

    from .helpers import members

    clock = FakeClock()
    proj = project(
        audiences={"buyers": {"where": {"event": "Order Completed"}, "to": ["ads"]}},
        journeys={"onboarding": {**ONBOARDING, "if": None}},
    )
    p = pipeline(engine, proj, clock)
    feed(engine, [_order("u1", "o-1")])
    p.drain()
    (timer,) = timers(engine)
    assert members(engine) == {("buyers", timer["contact_id"])}
    with engine.begin() as conn:
        erase(conn, [timer["contact_id"]])
    assert members(engine) == set()
    (timer,) = timers(engine)
    assert (timer["status"], timer["reason"]) == ("cancelled", "profile erased")
    assert timer["trigger"] in ({}, "{}")
