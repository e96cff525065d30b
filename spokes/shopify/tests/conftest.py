"""The Shopify sandbox on a test clock, with the spoke's client routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from shopify_vendor import Shopify

from spokehub_contracts.testing import FakeClock
from spokehub_shopify.testing import ShopifySandbox


@pytest.fixture
def shopify() -> Iterator[Shopify]:
    clock = FakeClock()
    with Shopify.serving(ShopifySandbox(clock=clock), clock) as harness:
        yield harness
