from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from spokehub.testing.fake_vendor import FakeVendor, run_vendor


@pytest.fixture
def vendors() -> Iterator[Any]:
    """Start fake vendors on demand; all are stopped afterwards."""
    started: list[FakeVendor] = []

    def start(**kwargs: Any) -> FakeVendor:
        vendor = run_vendor(**kwargs)
        started.append(vendor)
        return vendor

    yield start
    for vendor in started:
        vendor.stop()
