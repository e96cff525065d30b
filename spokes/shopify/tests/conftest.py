"""The Shopify sandbox on a test clock, with the spoke's client routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shopify_vendor import Shopify

from spokehub_contracts.testing import FakeClock, intercept_clients
from spokehub_shopify.testing import ShopifySandbox


@pytest.fixture
def shopify() -> Iterator[Shopify]:
    clock = FakeClock()
    sandbox = ShopifySandbox(clock=clock)
    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        yield Shopify(sandbox, clock)
