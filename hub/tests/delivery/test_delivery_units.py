"""Pure parts of delivery: backoff, coalescing, mapping, consent rule, --since, pacing."""

from __future__ import annotations

import asyncio
import random
from datetime import UTC, datetime, timedelta

import pytest
from delivery_helpers import event, person

from spokehub.delivery.backoff import RetryPolicy, give_up_reason, next_delay
from spokehub.delivery.coalesce import coalesce
from spokehub.delivery.consent import suppression_reason
from spokehub.delivery.mapping import apply_mapping
from spokehub.delivery.pacing import Pacer
from spokehub.delivery.replay import parse_since
from spokehub_contracts import RateLimit, UpsertPerson

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


def test_backoff_grows_with_jitter_and_honours_retry_after():
    policy = RetryPolicy(base=1, factor=2, cap=8)
    rng = random.Random(1)
    delays = [next_delay(policy, n, rng=rng) for n in range(1, 7)]
    for n, delay in enumerate(delays, start=1):
        exp = min(8, 2 ** (n - 1))
        assert exp / 2 <= delay <= exp
    assert 30 <= next_delay(policy, 1, retry_after=30, rng=rng) <= 33


def test_give_up_after_attempts_or_age():
    policy = RetryPolicy(max_attempts=3, max_age=3600)
    assert give_up_reason(policy, 2, NOW, NOW + timedelta(minutes=1)) is None
    assert "3 attempts" in give_up_reason(policy, 3, NOW, NOW)
    assert "older than" in give_up_reason(policy, 1, NOW, NOW + timedelta(hours=2))


def test_coalesce_keeps_the_latest_upsert_per_profile():
    entries = [
        (1, None, person("a1", "c1", first_name="Ada", attributes={"plan": "free"})),
        (2, None, event("e1", "c1")),
        (3, None, person("b1", "c2", first_name="Bob")),
        (4, None, person("a2", "c1", last_name="Lovelace", attributes={"plan": "pro"})),
    ]
    kept, superseded = coalesce(entries)
    assert [row for row, _, _ in kept] == [2, 3, 4]
    assert superseded == {1: 4}
    latest = kept[-1][2]
    assert isinstance(latest, UpsertPerson)
    assert latest.item_id == "a2"
    assert latest.person.first_name is None  # latest wins whole: no field merging
    assert latest.person.attributes == {"plan": "pro"}


def test_coalesce_never_merges_events_or_other_routes():
    entries = [
        (1, "r1", person("a1", "c1", first_name="Ada")),
        (2, "r2", person("a2", "c1", first_name="Ada")),
        (3, None, event("e1", "c1")),
        (4, None, event("e2", "c1")),
    ]
    kept, superseded = coalesce(entries)
    assert superseded == {}
    assert [row for row, _, _ in kept] == [1, 2, 3, 4]


def test_mapping_adds_destination_named_fields():
    change = person("a1", "c1", first_name="Ada", attributes={"plan": "pro"})
    change = change.model_copy(update={"scores": {"churn_risk": 0.2}})
    mapped = apply_mapping(
        change, {"tier": "attributes.plan", "churn": "scores.churn_risk", "x": "missing.path"}
    )
    assert mapped.person.attributes == {"plan": "pro", "tier": "pro", "churn": 0.2}
    assert change.person.attributes == {"plan": "pro"}
    tracked = apply_mapping(event("e1", "c1"), {"order": "properties.n"})
    assert tracked.event.properties["order"] == "e1"


def test_consent_rule():
    assert suppression_reason("event", "email_marketing", {"email_marketing": False})
    assert suppression_reason("event", "email_marketing", {"email_marketing": True}) is None
    assert suppression_reason("event", "email_marketing", {}) is None
    assert suppression_reason("event", None, {"email_marketing": False}) is None
    assert suppression_reason("forget", "email_marketing", {"email_marketing": False}) is None


def test_parse_since():
    assert parse_since("2h", now=NOW) == NOW - timedelta(hours=2)
    assert parse_since("2024-04-30T00:00:00") == datetime(2024, 4, 30, tzinfo=UTC)
    with pytest.raises(ValueError, match="duration"):
        parse_since("yesterday")


async def test_pacer_never_exceeds_the_window():
    pacer = Pacer(RateLimit(requests=5, per_seconds=0.2))
    loop = asyncio.get_running_loop()
    starts = []
    for _ in range(15):
        await pacer.acquire()
        starts.append(loop.time())
    for i in range(len(starts) - 5):
        assert starts[i + 5] - starts[i] >= 0.2
