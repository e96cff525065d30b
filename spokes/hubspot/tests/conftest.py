"""The HubSpot sandbox on a test clock, with the spoke's client routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot_vendor import HubSpot

from spokehub_contracts.testing import FakeClock
from spokehub_hubspot.testing import HubSpotSandbox


@pytest.fixture
def hubspot() -> Iterator[HubSpot]:
    clock = FakeClock()
    with HubSpot.serving(HubSpotSandbox(clock=clock), clock) as harness:
        yield harness
