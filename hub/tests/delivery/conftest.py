from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# The fake vendor and spoke are plain modules beside the tests (the benchmark uses them too).
sys.path.insert(0, str(Path(__file__).parent))

from fake_vendor import FakeVendor, run_vendor


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
