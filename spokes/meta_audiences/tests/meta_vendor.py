"""The Meta sandbox of one test, on a test clock, and how to send to it."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from spokehub_contracts import Change, Identifier, Outcome
from spokehub_contracts.testing import FakeClock
from spokehub_meta_audiences import MetaAudiencesConfig, MetaAudiencesDestination
from spokehub_meta_audiences.testing import (
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_AD_ACCOUNT_ID,
    MetaSandbox,
)

T = TypeVar("T")


def person(n: int, *, phone: bool = False) -> tuple[Identifier, ...]:
    """The identifiers of made-up person ``n``."""
    found = [Identifier(type="email", value=f"person{n}@example.com")]
    if phone:
        found.append(Identifier(type="phone", value=f"+4477009{n:05d}"))
    return tuple(found)


@dataclass
class Meta:
    """The sandbox of one test, and how to run the spoke against it."""

    sandbox: MetaSandbox
    clock: FakeClock

    def config(self, **overrides: Any) -> MetaAudiencesConfig:
        values = {
            "base_url": self.sandbox.url,
            "access_token": SANDBOX_ACCESS_TOKEN,
            "ad_account_id": SANDBOX_AD_ACCOUNT_ID,
            **overrides,
        }
        return MetaAudiencesConfig.model_validate(values)

    def run(self, use: Callable[[MetaAudiencesDestination], Awaitable[T]], **config: Any) -> T:
        """Build a destination for this sandbox and run ``use`` on it."""

        async def main() -> T:
            destination = MetaAudiencesDestination(self.config(**config), connection="meta")
            try:
                return await use(destination)
            finally:
                await destination.aclose()

        return asyncio.run(main())

    def write(self, batch: Sequence[Change], **config: Any) -> list[Outcome]:
        async def write(destination: MetaAudiencesDestination) -> list[Outcome]:
            return list(await destination.write(batch))

        return self.run(write, **config)

    def users_requests(self) -> list[Any]:
        return [r for r in self.sandbox.requests if r.path.endswith("/users")]
