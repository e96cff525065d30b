"""A new customer buying in the Shopify sandbox, and the signed webhooks Shopify sends
the hub for it (``customers/create``, then ``orders/create``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from spokehub_shopify.testing import SANDBOX_WEBHOOK_SECRET, ShopifySandbox


@dataclass(frozen=True)
class Purchase:
    customer_gid: str
    order_gid: str
    order_id: str


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_customer(
    shop: ShopifySandbox, email: str, first_name: str, last_name: str, *, subscribed: bool = True
) -> str:
    """A customer who signs up at checkout, now, subscribed to e-mail marketing or not;
    answers their GID."""
    now = _now()
    state = "SUBSCRIBED" if subscribed else "NOT_SUBSCRIBED"
    node = shop.add_customer(
        email=email,
        firstName=first_name,
        lastName=last_name,
        phone=None,
        createdAt=now,
        updatedAt=now,
        state="ENABLED",
        tags=[],
        emailMarketingConsent={
            "marketingState": state,
            "marketingOptInLevel": "SINGLE_OPT_IN",
            "consentUpdatedAt": now,
        },
    )
    return str(node["id"])


def new_order(shop: ShopifySandbox, customer_gid: str, *, line_items: int = 2) -> Purchase:
    """An order placed now by the customer."""
    now = _now()
    with shop.lock:
        node = shop.add_order(line_items=line_items)
        customer = shop.customers[customer_gid]
        node.update(createdAt=now, processedAt=now, updatedAt=now, email=customer["email"])
        node["customer"] = {
            "id": customer_gid,
            "email": customer["email"],
            "phone": customer.get("phone"),
        }
    order_id = str(node["id"]).rsplit("/", 1)[-1]
    return Purchase(customer_gid, str(node["id"]), order_id)


def signed(
    shop: ShopifySandbox, topic: str, payload: dict[str, Any]
) -> tuple[bytes, dict[str, str]]:
    """A webhook's body and headers as Shopify sends it, HMAC-signed with the app's secret."""
    body, headers = shop.webhook(topic, payload)
    return body, {**headers, **shop.sign_webhook(body, SANDBOX_WEBHOOK_SECRET, 0)}


def send_purchase(
    client: httpx.Client, url: str, shop: ShopifySandbox, purchase: Purchase, *, new: bool
) -> httpx.Response:
    """What Shopify sends for a purchase: ``customers/create`` first for a new customer,
    then ``orders/create``; answers the order webhook's response (its acknowledgement).

    :raises RuntimeError: when the hub does not acknowledge a webhook.
    """
    if new:
        body, headers = signed(
            shop, "customers/create", shop.customer_payload(purchase.customer_gid)
        )
        answer = client.post(url, content=body, headers=headers)
        if answer.status_code != 200:
            raise RuntimeError(f"customers/create answered {answer.status_code}: {answer.text}")
    body, headers = signed(shop, "orders/create", shop.order_payload(purchase.order_gid))
    answer = client.post(url, content=body, headers=headers)
    if answer.status_code != 200:
        raise RuntimeError(f"orders/create answered {answer.status_code}: {answer.text}")
    return answer
