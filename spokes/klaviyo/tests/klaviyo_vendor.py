"""The Klaviyo sandbox of one test, on a test clock, and how to send to it."""

from __future__ import annotations

from typing import Any

from spokehub_contracts import Event, Identifier, Person, TrackEvent, UpsertPerson
from spokehub_contracts.testing import SpokeHarness
from spokehub_klaviyo import KlaviyoDestination
from spokehub_klaviyo.testing import SANDBOX_API_KEY, KlaviyoSandbox


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


class Klaviyo(SpokeHarness[KlaviyoDestination, KlaviyoSandbox]):
    """The sandbox of one test, and how to run the spoke against it."""

    spoke = KlaviyoDestination
    connection = "email"

    def sandbox_config(self) -> dict[str, Any]:
        return {"base_url": self.sandbox.url, "api_key": SANDBOX_API_KEY}
