"""Enrichers in the pipeline: called for the records that concern them, in the batch's
transaction, with the event history they name (the batch's own events included); their
scores stored with provenance and carried by the profile's upsert; a failing one
quarantines its record alone."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, ClassVar

import orjson

from spokehub.pipeline import Pipeline
from spokehub.profiles import profile_view
from spokehub.registry import Registry
from spokehub_contracts import Enricher, ScoredTrait, hookimpl

from .helpers import feed, outbox_rows, project, quarantined

CALLS: list[tuple[str, int]] = []


class OrderCount(Enricher):
    name: ClassVar[str] = "order_count"
    events: ClassVar[tuple[str, ...]] = ("Order Completed",)

    def enrich(self, contact_id, traits, identifiers, events=()):
        CALLS.append((contact_id, len(events)))
        return [ScoredTrait(name="orders", value=len(events), model="counter/1")]


class Fussy(Enricher):
    """Fails for a profile whose plan is 'broken'."""

    name: ClassVar[str] = "fussy"

    def enrich(self, contact_id, traits, identifiers):
        if traits.get("plan") == "broken":
            raise RuntimeError("no")
        return [ScoredTrait(name="vip", value=traits.get("plan") == "gold", model="fussy/1")]


def _pipeline(engine) -> Pipeline:
    @hookimpl
    def register_enrichers(register: Any) -> None:
        register(OrderCount)
        register(Fussy)

    registry = Registry.load(
        allow=(),
        extra_plugins=[("enrichers", SimpleNamespace(register_enrichers=register_enrichers))],
    )
    return Pipeline(engine, project(), registry, batch_size=50)


def _order(n: int) -> dict[str, Any]:
    return {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"n": n}}


def test_enrichers_score_profiles_from_records_and_event_history(engine):
    CALLS.clear()
    pipeline = _pipeline(engine)
    feed(engine, [{"type": "identify", "userId": "u1", "traits": {"plan": "gold"}}])
    feed(engine, [_order(1), _order(2), {"type": "track", "userId": "u1", "event": "Other"}])
    pipeline.drain()
    # The identify and each order called the counter; the other event called nobody.
    assert [n for _, n in CALLS] == [0, 1, 2]
    upserts = [orjson.loads(r["item"]) for r in outbox_rows(engine) if r["kind"] == "upsert_person"]
    # The identify's upsert, then one per order whose count changed the score; each
    # carries the profile as the batch left it (all four records were one batch).
    assert [u["scores"] for u in upserts] == [{"orders": 2, "vip": True}] * 3
    contact = upserts[0]["contact_id"]
    with engine.connect() as conn:
        view = profile_view(conn, contact, pipeline.rules)
    assert view.scores["orders"].value == 2 and view.scores["orders"].model == "counter/1"

    # Later orders see the timeline written by earlier batches.
    feed(engine, [_order(3)])
    pipeline.drain()
    assert CALLS[-1][1] == 3

    # A score that does not change is not written again and adds no upsert.
    def upserts_now() -> int:
        return sum(r["kind"] == "upsert_person" for r in outbox_rows(engine))

    before = upserts_now()
    feed(engine, [{"type": "track", "userId": "u1", "event": "Other"}])
    pipeline.drain()
    assert upserts_now() == before


def test_a_failing_enricher_quarantines_its_record_alone(engine):
    pipeline = _pipeline(engine)
    feed(
        engine,
        [
            {"type": "identify", "userId": "u1", "traits": {"plan": "broken"}},
            {"type": "identify", "userId": "u2", "traits": {"plan": "gold"}},
        ],
    )
    stats = pipeline.drain()
    assert (stats.processed, stats.quarantined) == (1, 1)
    (q,) = quarantined(engine)
    assert (q["stage"], q["field"], q["rule"]) == (
        "enrich",
        "(record)",
        "enricher 'fussy' failed: RuntimeError",
    )
