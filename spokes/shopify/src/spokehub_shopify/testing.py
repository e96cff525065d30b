"""A sandbox of Shopify, for tests, demos and trying the spoke offline.

Built from Shopify's documented shapes on the conformance kit's server base:

- the GraphQL Admin API at ``POST /admin/api/{version}/graphql.json`` with
  ``X-Shopify-Access-Token``: the ``customers`` and ``orders`` connections (``first``,
  ``after``, ``sortKey``, a ``query`` filter on ``updated_at``/``created_at``),
  ``pageInfo`` with ``endCursor`` (Shopify's cursor: base64 JSON of the last node's id
  and sort value), an order's ``lineItems`` paged on their own (``order(id:)``), and
  ``shop``;
- its calculated query costs (a connection costs 2 plus ``first`` times its node, a
  query at most 1000) drawn from a leaky bucket (``maximumAvailable`` 2000 points,
  ``restoreRate`` 100 a second, as for a standard plan), reported in
  ``extensions.cost``, and a query the bucket cannot pay answered ``200`` with a
  ``THROTTLED`` error and no data;
- the 401 of a wrong token (``{"errors": "[API] Invalid API key or access token
  (unrecognized login or wrong password)"}``), and GraphQL errors in ``errors[]`` with
  ``extensions.code``;
- webhooks as Shopify sends them: the REST resource's JSON, ``X-Shopify-Topic``,
  ``X-Shopify-Hmac-Sha256`` (base64 HMAC-SHA256 of the body with the app's client
  secret), ``X-Shopify-Event-Id``, ``X-Shopify-Webhook-Id``, ``X-Shopify-Shop-Domain``.

Serve it with ``python -m spokehub_shopify.testing --port 8766`` and point a connection's
``base_url`` at the URL it prints, with ``access_token: shpat_sandbox_0000``; send a
signed webhook to a hub with ``python -m spokehub_shopify.testing webhook URL --topic
orders/create``. :attr:`ShopifySandbox.customers` and :attr:`ShopifySandbox.orders`
hold the shop's data; :meth:`ShopifySandbox.update_customer` changes one.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from spokehub_contracts.testing import Sandbox, SandboxRequest, SandboxResponse, route
from spokehub_contracts.testing.sandbox import serve_started

from ._webhooks import signature

#: The Admin API access token the sandbox accepts.
SANDBOX_ACCESS_TOKEN = "shpat_sandbox_0000"
#: The client secret the sandbox signs its webhooks with.
SANDBOX_WEBHOOK_SECRET = "shopify-sandbox-client-secret"
#: The shop the sandbox plays.
SHOP_DOMAIN = "spokehub-sandbox.myshopify.com"
#: Shopify's answer to a missing or wrong access token.
INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
#: The most a single query may cost, and a standard plan's bucket.
MAX_QUERY_COST = 1000
BUCKET_SIZE = 2000.0
RESTORE_RATE = 100.0
#: The most nodes one connection field returns.
MAX_FIRST = 250
#: When the sandbox's shop data begins; every change after is a second later.
EPOCH = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

_CUSTOMER_ID_BASE = 7_100_000_000_000
_ORDER_ID_BASE = 5_200_000_000_000
_LINE_ID_BASE = 14_000_000_000_000
_TERM = re.compile(r"(updated_at|created_at):(>=|<=|>|<)?'?([^'\s]+)'?")
_FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Frances", "Donald")
_LAST_NAMES = ("Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Thompson", "Allen")
_PRODUCTS = (
    ("8001", "TEA-SEN-01", "Sencha", "Leaf & Co", "100 g", "12.50"),
    ("8002", "TEA-GYO-02", "Gyokuro", "Leaf & Co", "50 g", "24.00"),
    ("8003", "POT-KYU-01", "Kyusu teapot", "Tokoname", "Brown", "59.00"),
    ("8004", "CUP-YUN-01", "Yunomi cup", "Tokoname", None, "14.00"),
)


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _gid(kind: str, number: int | str) -> str:
    return f"gid://shopify/{kind}/{number}"


def _number(gid: str) -> int:
    return int(str(gid).rsplit("/", 1)[-1])


def _cursor(node_id: int, value: str) -> str:
    raw = json.dumps({"last_id": node_id, "last_value": value}, separators=(",", ":"))
    return base64.b64encode(raw.encode()).decode()


def _uncursor(cursor: str) -> tuple[str, int]:
    data = json.loads(base64.b64decode(cursor.encode(), validate=True))
    return str(data["last_value"]), int(data["last_id"])


def graphql_error(message: str, code: str, **extensions: Any) -> SandboxResponse:
    """A GraphQL error as Shopify answers it: ``200`` with ``errors[]``."""
    error = {"message": message, "extensions": {"code": code, **extensions}}
    return SandboxResponse.json({"errors": [error]})


class ShopifySandbox(Sandbox):
    """One Shopify shop behind the GraphQL Admin API.

    :param customers: how many customers the shop starts with.
    :param orders: how many orders; one of them has more line items than a page holds.
    :param bucket: the query-cost bucket (``maximumAvailable``).
    :param restore_rate: points the bucket regains a second.
    :ivar customers: customer GID → the customer node as the API answers it.
    :ivar orders: order GID → the order node (all its line items under ``lineItems``).
    :ivar throttled: queries answered ``THROTTLED`` because the bucket was short.
    """

    name = "shopify"
    tokens = (SANDBOX_ACCESS_TOKEN,)

    def __init__(
        self,
        *,
        customers: int = 120,
        orders: int = 40,
        bucket: float = BUCKET_SIZE,
        restore_rate: float = RESTORE_RATE,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.bucket = bucket
        self.restore_rate = restore_rate
        self.available = bucket
        self._refilled_at = self.clock()
        self.throttled = 0
        self.customers: dict[str, dict[str, Any]] = {}
        self.orders: dict[str, dict[str, Any]] = {}
        self._moments = itertools.count(1)
        self._event_ids = itertools.count(1)
        for n in range(customers):
            self.add_customer(n)
        for n in range(orders):
            self.add_order(n)

    # -- the shop's data -----------------------------------------------------------------

    def next_moment(self) -> datetime:
        """The next second of the shop's clock: every change happens a second after the
        last, so a test knows its order."""
        return EPOCH + timedelta(seconds=next(self._moments))

    def add_customer(self, n: int | None = None, **fields: Any) -> dict[str, Any]:
        """Add customer ``n`` (made up from the number) with ``fields`` over it."""
        with self.lock:
            n = len(self.customers) if n is None else n
            at = _iso(self.next_moment())
            node: dict[str, Any] = {
                "id": _gid("Customer", _CUSTOMER_ID_BASE + n),
                "firstName": _FIRST_NAMES[n % len(_FIRST_NAMES)],
                "lastName": _LAST_NAMES[n % len(_LAST_NAMES)],
                "email": f"customer{n}@example.com",
                "phone": f"+1415555{n % 10000:04d}" if n % 3 == 0 else None,
                "createdAt": at,
                "updatedAt": at,
                "state": "ENABLED" if n % 4 else "DISABLED",
                "tags": ["vip"] if n % 10 == 0 else [],
                "locale": "en",
                "defaultAddress": {
                    "address1": f"{n + 1} Market Street",
                    "address2": None,
                    "city": "San Francisco",
                    "province": "California",
                    "zip": "94103",
                    "country": "United States",
                    "countryCodeV2": "US",
                    "company": None,
                },
                "emailMarketingConsent": {
                    "marketingState": ("SUBSCRIBED", "NOT_SUBSCRIBED", "UNSUBSCRIBED")[n % 3],
                    "marketingOptInLevel": "SINGLE_OPT_IN",
                    "consentUpdatedAt": at if n % 3 != 1 else None,
                },
                "smsMarketingConsent": None,
            }
            node.update(fields)
            self.customers[node["id"]] = node
            return node

    def update_customer(self, gid: str, **fields: Any) -> dict[str, Any]:
        """Change a customer: ``fields`` set, ``updatedAt`` the next second."""
        with self.lock:
            node = self.customers[gid]
            node.update(fields)
            node["updatedAt"] = _iso(self.next_moment())
            return node

    def add_order(self, n: int | None = None, *, line_items: int | None = None) -> dict[str, Any]:
        """Add order ``n`` for customer ``n`` (of those there are): one to three line
        items, 35 for order 7 (more than a page of them)."""
        with self.lock:
            n = len(self.orders) if n is None else n
            at = _iso(self.next_moment())
            count = line_items if line_items is not None else (35 if n == 7 else 1 + n % 3)
            items = []
            for k in range(count):
                product_id, sku, name, vendor, variant, price = _PRODUCTS[(n + k) % len(_PRODUCTS)]
                items.append(
                    {
                        "id": _gid("LineItem", _LINE_ID_BASE + n * 100 + k),
                        "name": f"{name} - {variant}" if variant else name,
                        "sku": sku,
                        "quantity": 1 + (n + k) % 2,
                        "vendor": vendor,
                        "variantTitle": variant,
                        "product": {"id": _gid("Product", product_id)},
                        "variant": {"id": _gid("ProductVariant", int(product_id) * 10)},
                        "originalUnitPriceSet": {
                            "shopMoney": {"amount": price, "currencyCode": "USD"}
                        },
                    }
                )
            subtotal = sum(
                float(i["originalUnitPriceSet"]["shopMoney"]["amount"]) * i["quantity"]
                for i in items
            )
            shipping, tax = 5.0, round(subtotal * 0.08, 2)
            customer = None
            if self.customers:
                ids = sorted(self.customers)
                customer = self.customers[ids[n % len(ids)]]
            node: dict[str, Any] = {
                "id": _gid("Order", _ORDER_ID_BASE + n),
                "name": f"#{1001 + n}",
                "createdAt": at,
                "processedAt": at,
                "updatedAt": at,
                "email": customer["email"] if customer else f"guest{n}@example.com",
                "phone": None,
                "currencyCode": "USD",
                "discountCodes": ["WELCOME10"] if n % 5 == 0 else [],
                "totalPriceSet": _money(subtotal + shipping + tax),
                "subtotalPriceSet": _money(subtotal),
                "totalTaxSet": _money(tax),
                "totalShippingPriceSet": _money(shipping),
                "totalDiscountsSet": _money(0),
                "customer": (
                    {"id": customer["id"], "email": customer["email"], "phone": customer["phone"]}
                    if customer
                    else None
                ),
                "lineItems": items,
            }
            self.orders[node["id"]] = node
            return node

    # -- vendor shapes -------------------------------------------------------------------

    def authorized(self, request: SandboxRequest) -> bool:
        return request.headers.get("X-Shopify-Access-Token", "") in self.accepted_tokens

    def auth_failed_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"errors": INVALID_TOKEN}, status=401)

    def throttle_response(self, request: SandboxRequest, retry_after: float) -> SandboxResponse:
        # Shopify's throttle is a 200 whose cost says how long the bucket needs: here
        # the bucket is empty and refills so that the query fits after ``retry_after``.
        requested = 252.0
        return self._throttled(requested, 0.0, requested / max(retry_after, 0.001))

    def error_response(self, request: SandboxRequest, status: int) -> SandboxResponse:
        return SandboxResponse.json({"errors": "Internal Server Error"}, status=status)

    def not_found_response(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"errors": "Not Found"}, status=404)

    def stats(self) -> dict[str, Any]:
        found = super().stats()
        with self.lock:
            found.update(
                customers=len(self.customers), orders=len(self.orders), throttled=self.throttled
            )
        return found

    # -- the API -------------------------------------------------------------------------

    @route("POST", "/admin/api/{version}/graphql.json")
    def graphql(self, request: SandboxRequest) -> SandboxResponse:
        try:
            body = request.json()
            query = str(body["query"])
            variables = dict(body.get("variables") or {})
        except (ValueError, KeyError, TypeError, AttributeError):
            return SandboxResponse.json(
                {"errors": [{"message": "Parse error: the body is no GraphQL request"}]},
                status=400,
            )
        if re.search(r"\bcustomers\s*\(", query):
            return self._list(request, query, variables, self.customers, _customer_cost)
        if re.search(r"\borders\s*\(", query):
            return self._list(request, query, variables, self.orders, _order_cost)
        if re.search(r"\border\s*\(\s*id:", query):
            return self._line_items(variables)
        if re.search(r"\bshop\s*\{", query):
            return self._answer(
                {"shop": {"name": "spokehub sandbox", "myshopifyDomain": SHOP_DOMAIN}}, 1, 1
            )
        field = (re.findall(r"\{\s*(\w+)", query) or ["?"])[0]
        return graphql_error(f"Field '{field}' doesn't exist on type 'QueryRoot'", "undefinedField")

    def _refill(self) -> None:
        now = self.clock()
        self.available = min(
            self.bucket, self.available + (now - self._refilled_at) * self.restore_rate
        )
        self._refilled_at = now

    def _throttled(self, requested: float, available: float, rate: float) -> SandboxResponse:
        self.throttled += 1
        return SandboxResponse.json(
            {
                "errors": [
                    {
                        "message": "Throttled",
                        "extensions": {
                            "code": "THROTTLED",
                            "documentation": "https://shopify.dev/api/usage/rate-limits",
                        },
                    }
                ],
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested,
                        "actualQueryCost": None,
                        "throttleStatus": {
                            "maximumAvailable": self.bucket,
                            "currentlyAvailable": available,
                            "restoreRate": rate,
                        },
                    }
                },
            }
        )

    def _charge(self, requested: int) -> SandboxResponse | None:
        """Refuse a query the bucket cannot pay (``THROTTLED``) or no bucket could."""
        if requested > MAX_QUERY_COST:
            return graphql_error(
                f"Query cost is {requested}, which exceeds the single query max cost limit"
                f" ({MAX_QUERY_COST}).",
                "MAX_COST_EXCEEDED",
                cost=requested,
                maxCost=MAX_QUERY_COST,
            )
        self._refill()
        if requested > self.available:
            return self._throttled(requested, round(self.available, 1), self.restore_rate)
        return None

    def _answer(self, data: Any, requested: int, actual: int) -> SandboxResponse:
        # Shopify takes the requested cost up front and refunds what the query did not use.
        self._refill()
        self.available = max(0.0, self.available - actual)
        return SandboxResponse.json(
            {
                "data": data,
                "extensions": {
                    "cost": {
                        "requestedQueryCost": requested,
                        "actualQueryCost": actual,
                        "throttleStatus": {
                            "maximumAvailable": self.bucket,
                            "currentlyAvailable": round(self.available, 1),
                            "restoreRate": self.restore_rate,
                        },
                    }
                },
            },
            headers={"X-Shopify-API-Version": "2026-10"},
        )

    def _list(
        self,
        request: SandboxRequest,
        query: str,
        variables: Mapping[str, Any],
        table: Mapping[str, dict[str, Any]],
        node_cost: Callable[[str], int],
    ) -> SandboxResponse:
        connection = "customers" if table is self.customers else "orders"
        first = variables.get("first")
        if not isinstance(first, int) or first < 1:
            return graphql_error(
                "you must provide one of first or last", "argumentLiteralsIncompatible"
            )
        if first > MAX_FIRST:
            return graphql_error(f"The first argument must be at most {MAX_FIRST}.", "BAD_REQUEST")
        requested = 2 + first * node_cost(query)
        if refusal := self._charge(requested):
            return refusal
        sort_key = (re.findall(r"sortKey:\s*(\w+)", query) or ["ID"])[0]
        key_field = {"UPDATED_AT": "updatedAt", "CREATED_AT": "createdAt"}.get(sort_key)
        matched = [n for n in table.values() if _matches(n, variables.get("query"))]
        ordered = sorted(
            matched, key=lambda n: (n[key_field] if key_field else "", _number(n["id"]))
        )
        start = 0
        after = variables.get("after")
        if after:
            try:
                last_value, last_id = _uncursor(str(after))
            except (ValueError, KeyError, TypeError):
                return graphql_error("Invalid cursor for current pagination.", "BAD_REQUEST")
            start = next(
                (
                    i
                    for i, n in enumerate(ordered)
                    if ((n[key_field] if key_field else ""), _number(n["id"]))
                    > (last_value if key_field else "", last_id)
                ),
                len(ordered),
            )
        page = self.paginate(request, ordered, start, first)
        nodes = [self._shape(connection, n, query) for n in page.items]

        def cursor_at(position: int) -> str:
            node = ordered[position]
            return _cursor(_number(node["id"]), node[key_field] if key_field else "")

        end = page.next_start if page.next_start is not None else page.start + len(page.items)
        info = {
            "hasNextPage": page.next_start is not None,
            "hasPreviousPage": page.start > 0,
            "startCursor": cursor_at(page.start) if page.items else None,
            "endCursor": cursor_at(end - 1) if page.items else None,
        }
        actual = 2 + len(nodes) * node_cost(query)
        return self._answer({connection: {"pageInfo": info, "nodes": nodes}}, requested, actual)

    def _shape(self, connection: str, node: dict[str, Any], query: str) -> dict[str, Any]:
        if connection != "orders":
            return dict(node)
        size = _line_items_first(query)
        items = node["lineItems"]
        shaped = dict(node)
        shaped["lineItems"] = {
            "pageInfo": {
                "hasNextPage": len(items) > size,
                "endCursor": _cursor(size - 1, "") if items else None,
            },
            "nodes": items[:size],
        }
        return shaped

    def _line_items(self, variables: Mapping[str, Any]) -> SandboxResponse:
        requested = 2 + MAX_FIRST
        if refusal := self._charge(requested):
            return refusal
        node = self.orders.get(str(variables.get("id")))
        if node is None:
            return self._answer({"order": None}, requested, 1)
        start = 0
        if variables.get("after"):
            start = _uncursor(str(variables["after"]))[1] + 1
        items = node["lineItems"][start : start + MAX_FIRST]
        end = start + len(items)
        connection = {
            "pageInfo": {
                "hasNextPage": end < len(node["lineItems"]),
                "endCursor": _cursor(end - 1, "") if items else None,
            },
            "nodes": items,
        }
        return self._answer({"order": {"lineItems": connection}}, requested, 2 + len(items))

    # -- webhooks ------------------------------------------------------------------------

    def sign_webhook(self, body: bytes, secret: str, timestamp: int) -> dict[str, str]:
        return {"X-Shopify-Hmac-Sha256": signature(body, secret)}

    def example_webhook(self) -> tuple[bytes, dict[str, str]]:
        first = sorted(self.orders)[0]
        return self.webhook("orders/create", self.order_payload(first))

    def webhook(
        self, topic: str, payload: Mapping[str, Any], *, event_id: str | None = None
    ) -> tuple[bytes, dict[str, str]]:
        """The body and headers (but the signature) of a webhook on ``topic``."""
        body = json.dumps(payload).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shopify-Topic": topic,
            "X-Shopify-Shop-Domain": SHOP_DOMAIN,
            "X-Shopify-API-Version": "2026-10",
            "X-Shopify-Webhook-Id": str(uuid.uuid4()),
            "X-Shopify-Event-Id": event_id or str(uuid.uuid4()),
            "X-Shopify-Triggered-At": datetime.now(UTC).isoformat(),
        }
        return body, headers

    def send(
        self,
        url: str,
        topic: str,
        payload: Mapping[str, Any],
        *,
        secret: str = SANDBOX_WEBHOOK_SECRET,
        event_id: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """POST a webhook on ``topic`` to ``url`` (a hub's ``/v1/webhooks/{connection}``),
        signed with ``secret``; ``headers`` over Shopify's."""
        body, sent = self.webhook(topic, payload, event_id=event_id)
        sent = {**sent, **self.sign_webhook(body, secret, 0), **(headers or {})}
        return httpx.post(url, content=body, headers=sent, timeout=30)

    def customer_payload(self, gid: str) -> dict[str, Any]:
        """A customer as ``customers/create`` and ``customers/update`` carry it."""
        node = self.customers[gid]
        address = node.get("defaultAddress") or {}
        email = node.get("emailMarketingConsent") or {}
        sms = node.get("smsMarketingConsent") or {}
        return {
            "id": _number(gid),
            "admin_graphql_api_id": gid,
            "email": node.get("email"),
            "phone": node.get("phone"),
            "first_name": node.get("firstName"),
            "last_name": node.get("lastName"),
            "created_at": node.get("createdAt"),
            "updated_at": node.get("updatedAt"),
            "state": str(node.get("state") or "").lower(),
            "verified_email": True,
            "tags": ", ".join(node.get("tags") or ()),
            "currency": "USD",
            "locale": node.get("locale"),
            "default_address": {
                "address1": address.get("address1"),
                "address2": address.get("address2"),
                "city": address.get("city"),
                "province": address.get("province"),
                "zip": address.get("zip"),
                "country": address.get("country"),
                "country_code": address.get("countryCodeV2"),
                "company": address.get("company"),
                "default": True,
            },
            "email_marketing_consent": (
                {
                    "state": str(email.get("marketingState")).lower(),
                    "opt_in_level": str(email.get("marketingOptInLevel") or "").lower(),
                    "consent_updated_at": email.get("consentUpdatedAt"),
                }
                if email
                else None
            ),
            "sms_marketing_consent": (
                {
                    "state": str(sms.get("marketingState")).lower(),
                    "opt_in_level": str(sms.get("marketingOptInLevel") or "").lower(),
                    "consent_updated_at": sms.get("consentUpdatedAt"),
                    "consent_collected_from": "OTHER",
                }
                if sms
                else None
            ),
        }

    def order_payload(self, gid: str) -> dict[str, Any]:
        """An order as ``orders/create`` and ``orders/paid`` carry it."""
        node = self.orders[gid]
        customer = node.get("customer")

        def amount(name: str) -> str:
            return str(node[name]["shopMoney"]["amount"])

        payload: dict[str, Any] = {
            "id": _number(gid),
            "admin_graphql_api_id": gid,
            "name": node["name"],
            "order_number": int(node["name"].lstrip("#")),
            "email": node.get("email"),
            "phone": node.get("phone"),
            "created_at": node["createdAt"],
            "processed_at": node["processedAt"],
            "updated_at": node["updatedAt"],
            "currency": node["currencyCode"],
            "financial_status": "paid",
            "total_price": amount("totalPriceSet"),
            "subtotal_price": amount("subtotalPriceSet"),
            "total_tax": amount("totalTaxSet"),
            "total_discounts": amount("totalDiscountsSet"),
            "total_shipping_price_set": {
                "shop_money": {"amount": amount("totalShippingPriceSet"), "currency_code": "USD"},
                "presentment_money": {
                    "amount": amount("totalShippingPriceSet"),
                    "currency_code": "USD",
                },
            },
            "discount_codes": [
                {"code": code, "amount": "0.00", "type": "percentage"}
                for code in node.get("discountCodes") or ()
            ],
            "line_items": [
                {
                    "id": _number(item["id"]),
                    "admin_graphql_api_id": item["id"],
                    "product_id": _number(item["product"]["id"]) if item.get("product") else None,
                    "variant_id": _number(item["variant"]["id"]) if item.get("variant") else None,
                    "sku": item.get("sku"),
                    "name": item.get("name"),
                    "title": str(item.get("name") or "").split(" - ")[0],
                    "variant_title": item.get("variantTitle"),
                    "vendor": item.get("vendor"),
                    "quantity": item.get("quantity"),
                    "price": item["originalUnitPriceSet"]["shopMoney"]["amount"],
                }
                for item in node["lineItems"]
            ],
            "customer": None,
        }
        if customer:
            full = self.customers.get(customer["id"], {})
            payload["customer"] = {
                "id": _number(customer["id"]),
                "email": customer.get("email"),
                "phone": customer.get("phone"),
                "first_name": full.get("firstName"),
                "last_name": full.get("lastName"),
                "admin_graphql_api_id": customer["id"],
            }
        return payload

    def redact_payload(self, gid: str) -> dict[str, Any]:
        """``customers/redact``: the customer to erase and their orders."""
        node = self.customers[gid]
        orders = [
            _number(o) for o, n in self.orders.items() if (n.get("customer") or {}).get("id") == gid
        ]
        return {
            "shop_id": 954889,
            "shop_domain": SHOP_DOMAIN,
            "customer": {
                "id": _number(gid),
                "email": node.get("email"),
                "phone": node.get("phone"),
            },
            "orders_to_redact": orders,
        }

    def data_request_payload(self, gid: str) -> dict[str, Any]:
        """``customers/data_request``: the customer asks for their data."""
        payload = self.redact_payload(gid)
        orders = payload.pop("orders_to_redact")
        return {
            **payload,
            "orders_requested": orders,
            "data_request": {"id": next(self._event_ids)},
        }


def _money(value: float) -> dict[str, Any]:
    return {"shopMoney": {"amount": f"{value:.2f}", "currencyCode": "USD"}}


def _customer_cost(query: str) -> int:
    return 1


def _line_items_first(query: str) -> int:
    found = re.findall(r"lineItems\s*\(\s*first:\s*(\d+)", query)
    return int(found[0]) if found else 0


def _order_cost(query: str) -> int:
    # An order node, plus its line items connection (2 + first, each item one).
    size = _line_items_first(query)
    return 1 + (2 + size if size else 0)


def _matches(node: Mapping[str, Any], search: Any) -> bool:
    if not search:
        return True
    for field, op, value in _TERM.findall(str(search)):
        have = node["updatedAt" if field == "updated_at" else "createdAt"]
        try:
            want = _iso(datetime.fromisoformat(value).astimezone(UTC))
        except ValueError:
            continue  # Shopify ignores a term it cannot read
        op = op or "="
        if not {
            ">=": have >= want,
            ">": have > want,
            "<=": have <= want,
            "<": have < want,
            "=": have == want,
        }[op]:
            return False
    return True


# -- the command line ------------------------------------------------------------------


def _serve(argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m spokehub_shopify.testing", description="the Shopify sandbox on 127.0.0.1"
    )
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    parser.add_argument("--customers", type=int, default=120, help="customers the shop has")
    parser.add_argument("--orders", type=int, default=40, help="orders the shop has")
    parser.add_argument("--bucket", type=float, default=BUCKET_SIZE, help="query-cost bucket")
    parser.add_argument(
        "--restore-rate", type=float, default=RESTORE_RATE, help="points restored a second"
    )
    parser.add_argument(
        "--until-stdin-closes",
        action="store_true",
        help="stop when standard input closes (for a parent process that holds it open)",
    )
    args = parser.parse_args(argv)
    sandbox = ShopifySandbox(
        customers=args.customers,
        orders=args.orders,
        bucket=args.bucket,
        restore_rate=args.restore_rate,
    ).start(port=args.port)
    serve_started(sandbox, args.until_stdin_closes)


def _send(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m spokehub_shopify.testing webhook",
        description="send one signed Shopify webhook about the sandbox's made-up shop",
    )
    parser.add_argument("url", help="the hub's webhook URL, e.g. .../v1/webhooks/shop")
    parser.add_argument("--topic", default="orders/create", help="the webhook topic")
    parser.add_argument("--secret", default=SANDBOX_WEBHOOK_SECRET, help="the client secret")
    parser.add_argument("--number", type=int, default=0, help="which customer or order")
    parser.add_argument("--event-id", help="X-Shopify-Event-Id (default: a new one)")
    args = parser.parse_args(argv)
    shop = ShopifySandbox(customers=max(args.number + 1, 1), orders=max(args.number + 1, 1))
    customer = sorted(shop.customers)[args.number]
    payloads = {
        "orders/create": lambda: shop.order_payload(sorted(shop.orders)[args.number]),
        "orders/paid": lambda: shop.order_payload(sorted(shop.orders)[args.number]),
        "customers/create": lambda: shop.customer_payload(customer),
        "customers/update": lambda: shop.customer_payload(customer),
        "customers/redact": lambda: shop.redact_payload(customer),
        "customers/data_request": lambda: shop.data_request_payload(customer),
        "shop/redact": lambda: {"shop_id": 954889, "shop_domain": SHOP_DOMAIN},
    }
    if args.topic not in payloads:
        parser.error(f"--topic must be one of {', '.join(payloads)}")
    answer = shop.send(
        args.url, args.topic, payloads[args.topic](), secret=args.secret, event_id=args.event_id
    )
    print(f"{answer.status_code} {answer.text[:200]}")
    return 0 if answer.is_success else 1


def main(argv: Sequence[str] | None = None) -> None:
    """``python -m spokehub_shopify.testing [serve options]`` serves the sandbox;
    ``… webhook URL --topic TOPIC`` sends one signed webhook."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["webhook"]:
        raise SystemExit(_send(args[1:]))
    _serve(args)


if __name__ == "__main__":
    main()
