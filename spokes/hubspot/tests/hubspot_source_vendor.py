"""The HubSpot sandbox of a source test: a seeded portal whose clock ticks a
millisecond a write, and how to read from it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from spokehub_contracts import RejectedRecord, SourceRecord, StateCheckpoint
from spokehub_contracts.testing import FakeClock
from spokehub_hubspot import HubSpotSource, HubSpotSourceConfig
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox


def ticking(start: datetime = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)) -> Callable[[], datetime]:
    """A wall clock a millisecond later at every call: every write has its own moment,
    in the order they were made."""
    moments = itertools.count()
    return lambda: start + timedelta(milliseconds=next(moments))


@dataclass
class Read:
    records: list[SourceRecord]
    rejected: list[RejectedRecord]
    checkpoints: list[StateCheckpoint]

    @property
    def state(self) -> dict[str, Any] | None:
        return self.checkpoints[-1].state if self.checkpoints else None

    def of_kind(self, kind: str) -> list[SourceRecord]:
        return [r for r in self.records if r.kind == kind]


@dataclass
class Portal:
    """The sandbox of one test, and how to run the source against it."""

    sandbox: HubSpotSandbox
    clock: FakeClock

    def config(self, **overrides: Any) -> HubSpotSourceConfig:
        values = {"base_url": self.sandbox.url, "access_token": SANDBOX_ACCESS_TOKEN, **overrides}
        return HubSpotSourceConfig.model_validate(values)

    def read(self, stream: str, state: Mapping[str, Any] | None = None, **config: Any) -> Read:
        async def main() -> Read:
            source = HubSpotSource(self.config(**config), connection="crm")
            done = Read([], [], [])
            try:
                async for item in source.read(stream, state):
                    if isinstance(item, StateCheckpoint):
                        done.checkpoints.append(item)
                    elif isinstance(item, RejectedRecord):
                        done.rejected.append(item)
                    else:
                        done.records.append(item)
            finally:
                await source.aclose()
            return done

        return asyncio.run(main())

    def searches(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.sandbox.requests if r.path.endswith("/search")]
