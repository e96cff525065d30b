"""The Meta sandbox on a test clock, with the spoke's client routed to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from meta_vendor import Meta

from spokehub_contracts.testing import FakeClock
from spokehub_meta_audiences.testing import MetaSandbox


@pytest.fixture
def meta() -> Iterator[Meta]:
    clock = FakeClock()
    with Meta.serving(MetaSandbox(clock=clock), clock) as harness:
        yield harness
