"""Shopify's webhooks: their signature, their topics, and the records each one gives.

Shopify signs a webhook with the app's client secret: ``X-Shopify-Hmac-Sha256`` is the
base64 HMAC-SHA256 of the raw body. ``X-Shopify-Topic`` names what happened;
``X-Shopify-Event-Id`` names the event, the same on every delivery of it (older API
versions send only ``X-Shopify-Webhook-Id``, the same on every retry of one delivery).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

#: The topics the spoke reads into records.
ORDER_TOPICS = frozenset({"orders/create", "orders/paid"})
CUSTOMER_TOPICS = frozenset({"customers/create", "customers/update"})
#: Shopify's mandatory privacy (compliance) topics.
PRIVACY_TOPICS = frozenset({"customers/data_request", "customers/redact", "shop/redact"})
TOPICS = ORDER_TOPICS | CUSTOMER_TOPICS | PRIVACY_TOPICS

SIGNATURE_HEADER = "X-Shopify-Hmac-Sha256"
TOPIC_HEADER = "X-Shopify-Topic"
EVENT_ID_HEADER = "X-Shopify-Event-Id"
WEBHOOK_ID_HEADER = "X-Shopify-Webhook-Id"
SHOP_HEADER = "X-Shopify-Shop-Domain"
TRIGGERED_HEADER = "X-Shopify-Triggered-At"


def signature(body: bytes, secret: str) -> str:
    """The ``X-Shopify-Hmac-Sha256`` value of ``body`` signed with ``secret``."""
    digest = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header by name, whatever its case (the hub hands them over lower-cased)."""
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def verified(headers: Mapping[str, str], body: bytes, secret: str | None) -> bool:
    """Whether ``body`` carries a valid signature by ``secret``; ``False`` without a
    secret or a signature."""
    given = header(headers, SIGNATURE_HEADER)
    if not secret or not given:
        return False
    return hmac.compare_digest(
        given.strip().encode("ascii", "replace"), signature(body, secret).encode()
    )


def delivery_id(headers: Mapping[str, str]) -> str | None:
    """The id a repeated delivery shares: the event id, else the webhook id."""
    return header(headers, EVENT_ID_HEADER) or header(headers, WEBHOOK_ID_HEADER)
