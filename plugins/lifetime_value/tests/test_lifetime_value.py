"""The enricher alone, against the contracts: orders in, scores out; and its hook."""

from __future__ import annotations

from datetime import UTC, datetime

import pluggy

import spokehub_lifetime_value
from spokehub_contracts import Enricher, Event, hookspecs
from spokehub_lifetime_value import MODEL, LifetimeValue, order_amount


def order(total: object, day: int, name: str = "Order Completed", key: str = "total") -> Event:
    return Event.model_validate(
        {
            "type": "track",
            "userId": "u1",
            "event": name,
            "properties": {key: total},
            "timestamp": datetime(2024, 5, day, tzinfo=UTC).isoformat(),
        }
    )


def test_sums_order_totals_counts_orders_and_dates_the_latest() -> None:
    scores = LifetimeValue().enrich(
        "c1", {}, (), events=[order(19.99, 1), order("30.01", 3), order(None, 2)]
    )
    by_name = {s.name: s for s in scores}
    assert by_name["lifetime_value"].value == 50.0
    assert by_name["order_count"].value == 3
    assert by_name["last_order_at"].value == "2024-05-03T00:00:00+00:00"
    assert {s.model for s in scores} == {MODEL}
    assert {s.computed_at for s in scores} == {datetime(2024, 5, 3, tzinfo=UTC)}


def test_revenue_stands_in_for_a_missing_total_and_other_events_are_ignored() -> None:
    scores = LifetimeValue().enrich(
        "c1", {}, (), events=[order(10, 1, key="revenue"), order(99, 2, name="Order Refunded")]
    )
    assert {s.name: s.value for s in scores}["lifetime_value"] == 10.0


def test_no_orders_no_scores() -> None:
    assert LifetimeValue().enrich("c1", {}, ()) == []


def test_amounts_that_are_not_numbers_count_as_nothing() -> None:
    assert order_amount({"total": "n/a"}) is None
    assert order_amount({"total": True}) is None
    assert order_amount({"total": "NaN"}) is None
    assert order_amount({"total": "12.50"}) == order_amount({"total": 12.5})


def test_the_hook_registers_the_enricher() -> None:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    pm.register(spokehub_lifetime_value)
    pm.check_pending()
    found: list[type[Enricher]] = []
    pm.hook.register_enrichers(register=found.append)
    assert found == [LifetimeValue]
    assert LifetimeValue.events == ("Order Completed",)
