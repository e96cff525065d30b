"""The HubSpot sandbox on a test clock, with the spoke's client routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from hubspot_vendor import HubSpot

from spokehub_contracts.testing import FakeClock, intercept_clients
from spokehub_hubspot.testing import HubSpotSandbox


@pytest.fixture
def hubspot() -> Iterator[HubSpot]:
    clock = FakeClock()
    sandbox = HubSpotSandbox(clock=clock)
    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        yield HubSpot(sandbox, clock)
