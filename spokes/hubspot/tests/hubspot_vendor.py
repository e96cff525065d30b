"""The HubSpot sandbox of one test, on a test clock, and how to send to it."""

from __future__ import annotations

from typing import Any

from spokehub_contracts import (
    Account,
    Identifier,
    Membership,
    Person,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
)
from spokehub_contracts.testing import SpokeHarness
from spokehub_hubspot import HubSpotDestination
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox


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


class HubSpot(SpokeHarness[HubSpotDestination, HubSpotSandbox]):
    """The sandbox of one test, and how to run the spoke against it."""

    spoke = HubSpotDestination
    connection = "crm"

    def sandbox_config(self) -> dict[str, Any]:
        return {"base_url": self.sandbox.url, "access_token": SANDBOX_ACCESS_TOKEN}
