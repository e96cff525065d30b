"""A Segment message's ``integrations`` object narrows where its changes go."""

from __future__ import annotations

import pytest

from spokehub.pipeline import Pipeline
from spokehub.pipeline.routing import integration_enabled

from .helpers import feed, outbox_rows, project, registry


@pytest.mark.parametrize(
    ("integrations", "crm", "ads"),
    [
        (None, True, True),
        ({}, True, True),
        ({"All": False}, False, False),
        ({"All": False, "crm": True}, True, False),
        ({"All": False, "crm": {"list": "vip"}}, True, False),
        ({"ads": False}, True, False),
        ({"All": True, "ads": False}, True, False),
        ({"Mixpanel": False}, True, True),
    ],
)
def test_integration_enabled(integrations, crm, ads) -> None:
    assert integration_enabled(integrations, "crm") is crm
    assert integration_enabled(integrations, "ads") is ads


def test_the_pipeline_routes_a_message_only_where_its_integrations_allow(engine):
    routes = [{"to": "crm"}, {"to": "ads"}]
    feed(
        engine,
        [
            {"type": "identify", "userId": "u1", "integrations": {"All": False, "crm": True}},
            {"type": "track", "userId": "u1", "event": "x", "integrations": {"crm": False}},
            {"type": "track", "userId": "u1", "event": "y"},
        ],
    )
    Pipeline(engine, project(routes), registry(), batch_size=50).drain()
    assert [(r["kind"], r["destination"]) for r in outbox_rows(engine)] == [
        ("upsert_person", "crm"),
        ("event", "ads"),
        ("event", "crm"),
        ("event", "ads"),
    ]
