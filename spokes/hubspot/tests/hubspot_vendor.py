"""The HubSpot sandbox of one test, on a test clock, and how to send to it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from spokehub_contracts import (
    Account,
    Change,
    Identifier,
    Membership,
    Outcome,
    Person,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
)
from spokehub_contracts.testing import FakeClock, SandboxRequest
from spokehub_hubspot import HubSpotConfig, HubSpotDestination
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox

T = TypeVar("T")


def email(n: int) -> str:
    return f"person{n}@example.com"


def person(n: int, item: str | None = None, **traits: Any) -> UpsertPerson:
    """An upsert of made-up person ``n``."""
    return UpsertPerson(
        item_id=item or f"p-{n}",
        contact_id=f"contact-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        person=Person(email=email(n), **traits),
    )


def account(domain: str, item: str | None = None, **fields: Any) -> UpsertAccount:
    return UpsertAccount(
        item_id=item or f"a-{domain}", account=Account(account_id=domain, **fields)
    )


def membership(n: int, account_id: str, item: str | None = None, **fields: Any) -> UpsertMembership:
    return UpsertMembership(
        item_id=item or f"m-{n}-{account_id}",
        contact_id=f"contact-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        membership=Membership(account_id=account_id, **fields),
    )


@dataclass
class HubSpot:
    """The sandbox of one test, and how to run the spoke against it."""

    sandbox: HubSpotSandbox
    clock: FakeClock

    def config(self, **overrides: Any) -> HubSpotConfig:
        values = {"base_url": self.sandbox.url, "access_token": SANDBOX_ACCESS_TOKEN, **overrides}
        return HubSpotConfig.model_validate(values)

    def run(self, use: Callable[[HubSpotDestination], Awaitable[T]], **config: Any) -> T:
        """Build a destination for this sandbox and run ``use`` on it."""

        async def main() -> T:
            destination = HubSpotDestination(self.config(**config), connection="crm")
            try:
                return await use(destination)
            finally:
                await destination.aclose()

        return asyncio.run(main())

    def write(self, batch: Sequence[Change], **config: Any) -> list[Outcome]:
        return list(self.run(lambda d: d.write(batch), **config))

    def requests(self, suffix: str) -> list[SandboxRequest]:
        """The requests whose path ends with ``suffix`` (``contacts/batch/upsert``)."""
        return [r for r in self.sandbox.requests if r.path.endswith(suffix)]

    def bodies(self, suffix: str) -> list[Any]:
        return [json.loads(r.body) for r in self.requests(suffix)]
