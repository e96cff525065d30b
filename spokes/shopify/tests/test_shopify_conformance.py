"""The contracts' conformance suite, run against the Shopify sandbox."""

from __future__ import annotations

from spokehub_contracts.testing import SpokeConformance
from spokehub_shopify import ShopifySource
from spokehub_shopify.testing import (
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_WEBHOOK_SECRET,
    ShopifySandbox,
)


class TestShopifyConformance(SpokeConformance):
    spoke = ShopifySource
    # Small pages, so that the suite's paging faults fall inside a read.
    config = {
        "base_url": "https://spokehub-sandbox.myshopify.com",
        "access_token": SANDBOX_ACCESS_TOKEN,
        "webhook_secret": SANDBOX_WEBHOOK_SECRET,
        "customers_page_size": 25,
        "orders_page_size": 10,
    }
    sandbox = ShopifySandbox
    config_schema_file = "shopify_config_schema.json"
