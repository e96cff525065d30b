"""The Klaviyo sandbox of one test, on a test clock, and how to send to it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from spokehub_contracts import Change, Event, Identifier, Outcome, Person, TrackEvent, UpsertPerson
from spokehub_contracts.testing import FakeClock, SandboxRequest
from spokehub_klaviyo import KlaviyoConfig, KlaviyoDestination
from spokehub_klaviyo.testing import SANDBOX_API_KEY, KlaviyoSandbox

T = TypeVar("T")


def email(n: int) -> str:
    return f"person{n}@example.com"


def person(n: int, item: str | None = None, **traits: Any) -> UpsertPerson:
    """An upsert of made-up person ``n``, matched by e-mail."""
    return UpsertPerson(
        item_id=item or f"p-{n}",
        contact_id=f"contact-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        person=Person(email=email(n), **traits),
    )


def onboarding_due(n: int, item: str | None = None, **properties: Any) -> TrackEvent:
    """The webshop's "Onboarding Due" event for person ``n``, with recommendations."""
    event = Event.model_validate(
        {
            "type": "track",
            "event": "Onboarding Due",
            "messageId": f"msg-onboarding-{n}",
            "userId": f"u-{n}",
            "timestamp": "2026-03-10T09:00:00Z",
            "properties": {
                "recommended_products": [
                    {"sku": "TEA-01", "name": "Sencha", "score": 0.91},
                    {"sku": "POT-02", "name": "Kyusu", "score": 0.77},
                ],
                **properties,
            },
        }
    )
    return TrackEvent(
        item_id=item or f"e-{n}",
        contact_id=f"contact-{n}",
        identifiers=(Identifier(type="email", value=email(n)),),
        event=event,
    )


@dataclass
class Klaviyo:
    """The sandbox of one test, and how to run the spoke against it."""

    sandbox: KlaviyoSandbox
    clock: FakeClock

    def config(self, **overrides: Any) -> KlaviyoConfig:
        values = {"base_url": self.sandbox.url, "api_key": SANDBOX_API_KEY, **overrides}
        return KlaviyoConfig.model_validate(values)

    def run(self, use: Callable[[KlaviyoDestination], Awaitable[T]], **config: Any) -> T:
        """Build a destination for this sandbox and run ``use`` on it."""

        async def main() -> T:
            destination = KlaviyoDestination(self.config(**config), connection="email")
            try:
                return await use(destination)
            finally:
                await destination.aclose()

        return asyncio.run(main())

    def write(self, batch: Sequence[Change], **config: Any) -> list[Outcome]:
        return list(self.run(lambda d: d.write(batch), **config))

    def requests(self, path: str) -> list[SandboxRequest]:
        return [r for r in self.sandbox.requests if r.path == path]

    def bodies(self, path: str) -> list[Any]:
        return [json.loads(r.body) for r in self.requests(path)]
