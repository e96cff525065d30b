"""The HubSpot sandbox of a source test: a seeded portal whose clock ticks a
millisecond a write, and how to read from it."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from spokehub_contracts.testing import SpokeHarness
from spokehub_hubspot import HubSpotSource
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox


def ticking(start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) -> Callable[[], datetime]:
    """A wall clock a millisecond later at every call: every write has its own moment,
    in the order they were made."""
    moments = itertools.count()
    return lambda: start + timedelta(milliseconds=next(moments))


class Portal(SpokeHarness[HubSpotSource, HubSpotSandbox]):
    """The sandbox of one test, and how to run the source against it."""

    spoke = HubSpotSource
    connection = "crm"

    def sandbox_config(self) -> dict[str, Any]:
        return {"base_url": self.sandbox.url, "access_token": SANDBOX_ACCESS_TOKEN}

    def searches(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.sandbox.requests if r.path.endswith("/search")]
