"""The Klaviyo sandbox on a test clock, with the spoke's client routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from klaviyo_vendor import Klaviyo

from spokehub_contracts.testing import FakeClock
from spokehub_klaviyo.testing import KlaviyoSandbox


@pytest.fixture
def klaviyo() -> Iterator[Klaviyo]:
    clock = FakeClock()
    with Klaviyo.serving(KlaviyoSandbox(clock=clock), clock) as harness:
        yield harness
