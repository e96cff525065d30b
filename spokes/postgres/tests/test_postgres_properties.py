"""Whatever traits and properties arrive, every item lands or is refused with a reason,
the batch never fails for one item's data, and a second delivery changes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spokehub_contracts import (
    Change,
    Delivered,
    Event,
    Person,
    Rejected,
    TrackEvent,
    UpsertPerson,
)
from spokehub_postgres import PostgresDestination

pytestmark = pytest.mark.postgres

SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
KEYS = st.sampled_from(
    ["plan", "Plan", "visits", "first_name", "contact_id", "tier", "total"]
) | st.text(min_size=1, max_size=10)
OBJECTS = st.dictionaries(KEYS, VALUES, max_size=4)


async def _write(url: str, schema: str, batch: list[Change]) -> list[Any]:
    config = PostgresDestination.Config.model_validate({"url": url, "schema": schema})
    destination = PostgresDestination(config, connection="warehouse")
    try:
        return list(await destination.write(batch))
    finally:
        await destination.aclose()


def _dump(url: str, schema: str) -> list[str]:
    with psycopg.connect(url) as conn:
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s ORDER BY 1",
            (schema,),
        ).fetchall()
        return [
            repr(sorted(map(repr, conn.execute(f'SELECT * FROM "{schema}"."{t}"').fetchall())))
            for (t,) in tables
        ]


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(people=st.lists(OBJECTS, min_size=1, max_size=4), events=st.lists(OBJECTS, max_size=3))
def test_any_data_lands_or_is_refused_alone(
    warehouse: tuple[str, str], people: list[dict[str, Any]], events: list[dict[str, Any]]
) -> None:
    url, schema = warehouse
    batch: list[Change] = [
        UpsertPerson(item_id=f"p{n}", contact_id=f"c{n}", person=Person(attributes=traits))
        for n, traits in enumerate(people)
    ]
    batch += [
        TrackEvent(
            item_id=f"e{n}",
            contact_id=f"c{n}",
            event=Event(
                type="track",
                event="Order Completed",
                user_id=f"u{n}",
                message_id=f"m{n}-{len(properties)}",
                properties=properties,
            ),
        )
        for n, properties in enumerate(events)
    ]
    first = asyncio.run(_write(url, schema, batch))
    assert [o.item_id for o in first] == [c.item_id for c in batch]
    assert all(isinstance(o, Delivered | Rejected) for o in first)
    for outcome in first:
        if isinstance(outcome, Rejected):
            assert outcome.reason
    before = _dump(url, schema)
    again = asyncio.run(_write(url, schema, batch))
    assert [type(o) for o in again] == [type(o) for o in first]
    assert _dump(url, schema) == before
