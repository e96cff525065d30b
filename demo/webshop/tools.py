"""The vendors' sandboxes the scenario's spokes ship, served on 127.0.0.1 at free ports."""

from __future__ import annotations

import contextlib
from types import TracebackType
from typing import Any

from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN as HUBSPOT_TOKEN
from spokehub_hubspot.testing import HubSpotSandbox
from spokehub_klaviyo.testing import SANDBOX_API_KEY as KLAVIYO_KEY
from spokehub_klaviyo.testing import KlaviyoSandbox
from spokehub_meta_audiences.testing import SANDBOX_ACCESS_TOKEN as META_TOKEN
from spokehub_meta_audiences.testing import SANDBOX_AD_ACCOUNT_ID, MetaSandbox
from spokehub_shopify.testing import SANDBOX_ACCESS_TOKEN as SHOPIFY_TOKEN
from spokehub_shopify.testing import SANDBOX_WEBHOOK_SECRET, ShopifySandbox

#: The secret of the Klaviyo system webhook pointed at the hub (set on both sides).
KLAVIYO_WEBHOOK_SECRET = "klaviyo-webhook-secret-webshop"


class Tools:
    """Shopify, HubSpot, Meta and Klaviyo, each a sandbox in a thread of this process.

    :param customers: the shop's customers before the story starts.
    :param orders: the shop's orders before the story starts (its history).
    :param keep_bodies: keep request bodies in the logs (the timeline reads them).
    """

    def __init__(
        self,
        *,
        customers: int = 6,
        orders: int = 4,
        keep_bodies: bool = True,
        hubspot: dict[str, Any] | None = None,
    ) -> None:
        self.shopify = ShopifySandbox(customers=customers, orders=orders, keep_bodies=keep_bodies)
        self.hubspot = HubSpotSandbox(keep_bodies=keep_bodies, **(hubspot or {}))
        self.meta = MetaSandbox(keep_bodies=keep_bodies)
        self.klaviyo = KlaviyoSandbox(keep_bodies=keep_bodies)
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Tools:
        for sandbox in (self.shopify, self.hubspot, self.meta, self.klaviyo):
            self._stack.enter_context(sandbox)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._stack.close()

    def env(self) -> dict[str, str]:
        """The project's variables (``.env``): each sandbox's address and credentials."""
        return {
            "SHOPIFY_URL": self.shopify.url,
            "SHOPIFY_ACCESS_TOKEN": SHOPIFY_TOKEN,
            "SHOPIFY_WEBHOOK_SECRET": SANDBOX_WEBHOOK_SECRET,
            "HUBSPOT_URL": self.hubspot.url,
            "HUBSPOT_ACCESS_TOKEN": HUBSPOT_TOKEN,
            "META_URL": self.meta.url,
            "META_ACCESS_TOKEN": META_TOKEN,
            "META_AD_ACCOUNT_ID": SANDBOX_AD_ACCOUNT_ID,
            "KLAVIYO_URL": self.klaviyo.url,
            "KLAVIYO_API_KEY": KLAVIYO_KEY,
            "KLAVIYO_WEBHOOK_SECRET": KLAVIYO_WEBHOOK_SECRET,
        }

    # -- what the tools hold -------------------------------------------------------------

    def meta_members(self, audience: str, email_hash: str) -> bool:
        """Whether the Custom Audience named ``audience`` holds the hashed e-mail."""
        try:
            found = self.meta.audience_named(audience)
        except ValueError:
            return False
        return email_hash in self.meta.hashes(found["id"])

    def meta_size(self, audience: str) -> int:
        try:
            found = self.meta.audience_named(audience)
        except ValueError:
            return 0
        return len(self.meta.hashes(found["id"]))
