"""The sandbox receiver of one test, on a test clock, and how to send to it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from spokehub_contracts import Change, Outcome
from spokehub_contracts.testing import FakeClock
from spokehub_webhook import WebhookConfig, WebhookDestination
from spokehub_webhook.testing import SANDBOX_SECRET, WebhookReceiverSandbox

T = TypeVar("T")


@dataclass
class Receiver:
    """The sandbox receiver of one test, and how to send to it."""

    sandbox: WebhookReceiverSandbox
    clock: FakeClock

    @property
    def url(self) -> str:
        return self.sandbox.url + "/hooks/spokehub"

    def run(
        self,
        use: Callable[[WebhookDestination], Awaitable[T]],
        *,
        secret: str = SANDBOX_SECRET,
        wall_clock: Callable[[], float] = time.time,
    ) -> T:
        """Build a destination for this receiver and run ``use`` on it."""

        async def main() -> T:
            config = WebhookConfig(url=self.url, secret=secret)
            destination = WebhookDestination(config, connection="order_tool", clock=wall_clock)
            try:
                return await use(destination)
            finally:
                await destination.aclose()

        return asyncio.run(main())

    def write(self, batch: Sequence[Change], **kwargs: Any) -> list[Outcome]:
        async def write(destination: WebhookDestination) -> list[Outcome]:
            return list(await destination.write(batch))

        return self.run(write, **kwargs)
