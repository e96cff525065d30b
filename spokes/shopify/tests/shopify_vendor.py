"""The Shopify sandbox of one test, on a test clock, and how to read from it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from spokehub_contracts import RejectedRecord, SourceRecord, StateCheckpoint
from spokehub_contracts.testing import FakeClock
from spokehub_shopify import ShopifyConfig, ShopifySource
from spokehub_shopify.testing import SANDBOX_ACCESS_TOKEN, SANDBOX_WEBHOOK_SECRET, ShopifySandbox

T = TypeVar("T")


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
class Shopify:
    """The sandbox of one test, and how to run the spoke against it."""

    sandbox: ShopifySandbox
    clock: FakeClock

    def config(self, **overrides: Any) -> ShopifyConfig:
        values = {
            "base_url": self.sandbox.url,
            "access_token": SANDBOX_ACCESS_TOKEN,
            "webhook_secret": SANDBOX_WEBHOOK_SECRET,
            **overrides,
        }
        return ShopifyConfig.model_validate(values)

    def run(self, use: Callable[[ShopifySource], Awaitable[T]], **config: Any) -> T:
        async def main() -> T:
            source = ShopifySource(self.config(**config), connection="shop")
            try:
                return await use(source)
            finally:
                await source.aclose()

        return asyncio.run(main())

    def read(self, stream: str, state: Mapping[str, Any] | None = None, **config: Any) -> Read:
        async def use(source: ShopifySource) -> Read:
            done = Read([], [], [])
            async for item in source.read(stream, state):
                if isinstance(item, StateCheckpoint):
                    done.checkpoints.append(item)
                elif isinstance(item, RejectedRecord):
                    done.rejected.append(item)
                else:
                    done.records.append(item)
            return done

        return self.run(use, **config)
