"""The Meta sandbox of one test, on a test clock, and how to send to it."""

from __future__ import annotations

from typing import Any

from spokehub_contracts import Identifier
from spokehub_contracts.testing import SpokeHarness
from spokehub_meta_audiences import MetaAudiencesDestination
from spokehub_meta_audiences.testing import (
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_AD_ACCOUNT_ID,
    MetaSandbox,
)


def person(n: int, *, phone: bool = False) -> tuple[Identifier, ...]:
    """The identifiers of made-up person ``n``."""
    found = [Identifier(type="email", value=f"person{n}@example.com")]
    if phone:
        found.append(Identifier(type="phone", value=f"+4477009{n:05d}"))
    return tuple(found)


class Meta(SpokeHarness[MetaAudiencesDestination, MetaSandbox]):
    """The sandbox of one test, and how to run the spoke against it."""

    spoke = MetaAudiencesDestination
    connection = "meta"

    def sandbox_config(self) -> dict[str, Any]:
        return {
            "base_url": self.sandbox.url,
            "access_token": SANDBOX_ACCESS_TOKEN,
            "ad_account_id": SANDBOX_AD_ACCOUNT_ID,
        }

    def users_requests(self) -> list[Any]:
        return [r for r in self.sandbox.requests if r.path.endswith("/users")]
