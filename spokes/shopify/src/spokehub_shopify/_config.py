"""The configuration of a Shopify connection."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator

from spokehub_contracts import SpokeConfig

#: The GraphQL Admin API version this spoke was written against. Shopify publishes one
#: every quarter and keeps each for at least twelve months.
DEFAULT_API_VERSION = "2026-10"
#: The most nodes Shopify returns for one connection field (``first``).
MAX_PAGE_SIZE = 250
#: The streams a connection reads unless ``streams`` says otherwise.
STREAMS = ("customers", "orders")

# A stable quarterly version, or the unstable one.
_VERSION = re.compile(r"^(20\d\d-(01|04|07|10)|unstable)$")
# A shop's admin host: https://<shop>.myshopify.com, a custom domain, or a local sandbox.
_URL = re.compile(r"^https?://[^/\s?#]+/?$")


class ShopifyConfig(SpokeConfig):
    """Configuration of a Shopify connection.

    :param base_url: the shop's address, ``https://<shop>.myshopify.com``; every shop has
        its own, so there is no default. The sandbox's URL to try the spoke offline.
    :param access_token: the Admin API access token of a custom app (``shpat_…``) or an
        OAuth token, with the scopes ``read_customers`` and ``read_orders``; write
        ``${SHOPIFY_ACCESS_TOKEN}`` in spokehub.yaml.
    :param webhook_secret: the app's client secret, which signs its webhooks
        (``X-Shopify-Hmac-Sha256``); needed only to receive webhooks.
    :param api_version: the GraphQL Admin API version, ``2026-10`` unless set.
    :param streams: what a pull reads: ``customers``, ``orders`` or both.
    :param customers_page_size: customers a request (at most 250).
    :param orders_page_size: orders a request; each order brings up to
        ``line_items_per_order`` line items, and Shopify refuses a query that may cost
        more than 1000 points, so pages of orders are smaller.
    :param line_items_per_order: line items read with each order; an order with more has
        the rest read in requests of its own.
    """

    # A mistyped token is still a token: errors name the field and the rule, not the input.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    base_url: str
    access_token: SecretStr
    webhook_secret: SecretStr | None = None
    api_version: str = DEFAULT_API_VERSION
    streams: tuple[Literal["customers", "orders"], ...] = STREAMS
    customers_page_size: int = Field(default=MAX_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE)
    orders_page_size: int = Field(default=25, ge=1, le=MAX_PAGE_SIZE)
    line_items_per_order: int = Field(default=30, ge=1, le=MAX_PAGE_SIZE)

    @field_validator("base_url")
    @classmethod
    def _shop_url(cls, value: str) -> str:
        if not _URL.match(value.strip()):
            raise ValueError(
                "must be the shop's address without a path, such as https://your-shop.myshopify.com"
            )
        return value.strip().rstrip("/")

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value.strip()):
            raise ValueError(
                "must be a Shopify API version such as 2026-10 (January, April, July or"
                " October of a year) or unstable"
            )
        return value.strip()

    @field_validator("streams")
    @classmethod
    def _some_streams(cls, value: tuple[str, ...]) -> tuple[Literal["customers", "orders"], ...]:
        if not value:
            raise ValueError("name at least one stream: customers, orders")
        return tuple(dict.fromkeys(value))  # type: ignore[return-value]

    @property
    def graphql_path(self) -> str:
        """``/admin/api/{version}/graphql.json``."""
        return f"/admin/api/{self.api_version}/graphql.json"
