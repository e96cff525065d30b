"""spokehub-shopify: a Shopify shop's customers, orders and consent in the hub.

Customers become persons (identified by their Shopify id, e-mail and phone) with their
e-mail and SMS marketing consent; orders become ``Order Completed`` events with their
products. Both are pulled incrementally through the GraphQL Admin API and pushed by
signed webhooks; Shopify's privacy webhooks become privacy requests. Depends on
``spokehub-contracts`` alone and reaches the hub through the ``spokehub`` entry point,
which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Source, hookimpl

from ._config import DEFAULT_API_VERSION, MAX_PAGE_SIZE, STREAMS, ShopifyConfig
from ._graphql import CUSTOMERS_QUERY, LINE_ITEMS_QUERY, ShopifyGraphQL, orders_query, throttle_wait
from ._mapping import (
    CUSTOMER_ID_TYPE,
    ORDER_COMPLETED,
    Customer,
    MappingFailed,
    Order,
    Product,
    customer_from_node,
    customer_from_payload,
    customer_records,
    numeric_id,
    order_from_node,
    order_from_payload,
    order_record,
)
from ._source import ShopifySource
from ._webhooks import TOPICS, delivery_id, signature, verified

__all__ = [
    "CUSTOMERS_QUERY",
    "CUSTOMER_ID_TYPE",
    "DEFAULT_API_VERSION",
    "LINE_ITEMS_QUERY",
    "MAX_PAGE_SIZE",
    "ORDER_COMPLETED",
    "STREAMS",
    "TOPICS",
    "Customer",
    "MappingFailed",
    "Order",
    "Product",
    "ShopifyConfig",
    "ShopifyGraphQL",
    "ShopifySource",
    "customer_from_node",
    "customer_from_payload",
    "customer_records",
    "delivery_id",
    "numeric_id",
    "order_from_node",
    "order_from_payload",
    "order_record",
    "orders_query",
    "register_sources",
    "signature",
    "throttle_wait",
    "verified",
]


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Hand :class:`ShopifySource` to the hub."""
    register(ShopifySource)
