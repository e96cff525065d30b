"""The Shopify sandbox of one test, on a test clock, and how to read from it."""

from __future__ import annotations

from typing import Any

from spokehub_contracts.testing import SpokeHarness
from spokehub_shopify import ShopifySource
from spokehub_shopify.testing import SANDBOX_ACCESS_TOKEN, SANDBOX_WEBHOOK_SECRET, ShopifySandbox


class Shopify(SpokeHarness[ShopifySource, ShopifySandbox]):
    """The sandbox of one test, and how to run the spoke against it."""

    spoke = ShopifySource
    connection = "shop"

    def sandbox_config(self) -> dict[str, Any]:
        return {
            "base_url": self.sandbox.url,
            "access_token": SANDBOX_ACCESS_TOKEN,
            "webhook_secret": SANDBOX_WEBHOOK_SECRET,
        }
