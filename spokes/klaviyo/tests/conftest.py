"""The Klaviyo sandbox on a test clock, with the spoke's client routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from klaviyo_vendor import Klaviyo

from spokehub_contracts.testing import FakeClock, intercept_clients
from spokehub_klaviyo.testing import KlaviyoSandbox


@pytest.fixture
def klaviyo() -> Iterator[Klaviyo]:
    clock = FakeClock()
    sandbox = KlaviyoSandbox(clock=clock)
    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        yield Klaviyo(sandbox, clock)
