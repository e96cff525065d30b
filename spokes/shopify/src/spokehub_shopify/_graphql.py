"""Talking to Shopify's GraphQL Admin API: the queries, and its cost-based throttling.

Shopify does not count requests: every query has a cost, and each app has a bucket of
points per shop (``extensions.cost.throttleStatus``: ``maximumAvailable``,
``currentlyAvailable``, ``restoreRate`` points a second). A query that costs more than
the bucket holds is answered ``200`` with a ``THROTTLED`` error and no data. The client
here waits as that answer states, ``(requestedQueryCost - currentlyAvailable) /
restoreRate`` seconds, and holds back before the next query when the last answer shows
the bucket too low for it, so a long pull mostly never meets the error at all.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from spokehub_contracts import (
    AuthError,
    Capabilities,
    PermanentError,
    SpokeClient,
    Throttled,
    TransientError,
    redact,
)

from ._config import ShopifyConfig

if TYPE_CHECKING:
    import httpx

logger = logging.getLogger("spokehub_shopify")

#: THROTTLED answers in a row a request waits out before it leaves the wait to the hub.
MAX_THROTTLED = 30
#: The longest wait for points the client sits out itself; a longer one is raised as
#: ``Throttled`` for the hub to schedule.
MAX_WAIT = 60.0
# Error codes in ``errors[].extensions.code`` that mean the token may not do this.
_ACCESS_CODES = frozenset({"ACCESS_DENIED", "UNAUTHORIZED", "FORBIDDEN"})

CUSTOMER_FIELDS = """
      id
      firstName
      lastName
      email
      phone
      createdAt
      updatedAt
      state
      tags
      locale
      defaultAddress { address1 address2 city province zip country countryCodeV2 company }
      emailMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
      smsMarketingConsent { marketingState marketingOptInLevel consentUpdatedAt }
"""

CUSTOMERS_QUERY = (
    """query Customers($first: Int!, $after: String, $query: String) {
  customers(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {"""
    + CUSTOMER_FIELDS
    + """    }
  }
}"""
)

LINE_ITEM_FIELDS = """
          id
          name
          sku
          quantity
          vendor
          variantTitle
          product { id }
          variant { id }
          originalUnitPriceSet { shopMoney { amount currencyCode } }
"""


def orders_query(line_items: int) -> str:
    """The orders page query, with ``line_items`` line items an order."""
    return (
        """query Orders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: CREATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes {
      id
      name
      createdAt
      processedAt
      updatedAt
      email
      phone
      currencyCode
      discountCodes
      totalPriceSet { shopMoney { amount currencyCode } }
      subtotalPriceSet { shopMoney { amount currencyCode } }
      totalTaxSet { shopMoney { amount currencyCode } }
      totalShippingPriceSet { shopMoney { amount currencyCode } }
      totalDiscountsSet { shopMoney { amount currencyCode } }
      customer { id email phone }
      lineItems(first: """
        + str(line_items)
        + """) {
        pageInfo { hasNextPage endCursor }
        nodes {"""
        + LINE_ITEM_FIELDS
        + """        }
      }
    }
  }
}"""
    )


LINE_ITEMS_QUERY = (
    """query OrderLineItems($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 250, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes {"""
    + LINE_ITEM_FIELDS
    + """      }
    }
  }
}"""
)

SHOP_QUERY = "query Shop { shop { name myshopifyDomain } }"


def throttle_wait(body: Any) -> float | None:
    """Seconds to wait before a query the answer ``body`` speaks of can run.

    For a ``THROTTLED`` answer: the points the query asked for that the bucket lacks,
    at the restore rate. For any other answer: the same for the next query of the same
    cost when the bucket no longer holds it, else ``None``.
    """
    if not isinstance(body, Mapping):
        return None
    cost = (body.get("extensions") or {}).get("cost") or {}
    status = cost.get("throttleStatus") or {}
    try:
        requested = float(cost.get("requestedQueryCost") or 0)
        available = float(status.get("currentlyAvailable", 0))
        rate = float(status.get("restoreRate") or 0)
    except (TypeError, ValueError):
        return None
    throttled = any(_code(e) == "THROTTLED" for e in body.get("errors") or () if e)
    if rate <= 0:
        return 1.0 if throttled else None
    short = requested - available
    if throttled:
        return max(short / rate, 0.05)
    if short > 0:
        return short / rate
    return None


def _code(error: Any) -> str | None:
    if not isinstance(error, Mapping):
        return None
    code = (error.get("extensions") or {}).get("code")
    return str(code) if code is not None else None


def _signal(response: httpx.Response) -> float | None:
    # Read by the toolkit client on every answer: on a 200 it holds the next request
    # back for as long as the bucket needs to refill.
    if "json" not in response.headers.get("content-type", ""):
        return None
    try:
        return throttle_wait(response.json())
    except ValueError:
        return None


class ShopifyGraphQL:
    """One connection's GraphQL client: ``X-Shopify-Access-Token`` on every request,
    answers checked for GraphQL errors, ``THROTTLED`` waited out."""

    def __init__(self, config: ShopifyConfig, capabilities: Capabilities) -> None:
        token = config.access_token

        def auth(request: httpx.Request) -> Mapping[str, str]:
            return {"X-Shopify-Access-Token": token.get_secret_value()}

        self.path = config.graphql_path
        self.client = SpokeClient.from_capabilities(
            capabilities,
            base_url=config.base_url,
            auth=auth,
            throttle_signal=_signal,
            max_retry_after=MAX_WAIT,
        )
        #: THROTTLED answers met so far (for tests and logs).
        self.throttled = 0

    async def aclose(self) -> None:
        await self.client.aclose()

    async def query(self, query: str, variables: Mapping[str, Any] | None = None) -> Any:
        """Run ``query`` and answer its ``data``.

        :raises AuthError: 401/403, or a GraphQL ``ACCESS_DENIED`` (a scope is missing).
        :raises Throttled: still throttled after :data:`MAX_THROTTLED` waits, or asked to
            wait longer than :data:`MAX_WAIT`.
        :raises PermanentError: any other GraphQL error, with Shopify's message.
        :raises TransientError: 5xx, timeouts, or an answer that is not JSON.
        """
        payload = {"query": query, "variables": dict(variables or {})}
        for _ in range(MAX_THROTTLED):
            response = await self.client.post(self.path, json=payload)
            try:
                body = response.json()
            except ValueError:
                raise TransientError(
                    f"POST {self.path} answered {response.status_code} with a body that is not JSON"
                ) from None
            if not isinstance(body, Mapping):
                raise TransientError(f"POST {self.path} answered JSON that is not an object")
            errors = [e for e in body.get("errors") or () if isinstance(e, Mapping)]
            if any(_code(e) == "THROTTLED" for e in errors):
                self.throttled += 1
                wait = throttle_wait(body) or 1.0
                logger.info("Shopify throttled the query; waiting %.2fs for points", wait)
                if wait > MAX_WAIT:
                    raise Throttled(f"Shopify asked to wait {wait:.0f}s for query points", wait)
                # The toolkit client holds the next request back for that long already.
                continue
            if errors:
                raise _error(self.path, errors)
            if "data" not in body:
                raise TransientError(f"POST {self.path} answered neither data nor errors")
            return body["data"]
        raise Throttled(
            f"Shopify throttled {MAX_THROTTLED} queries in a row", throttle_wait(body) or 1.0
        )


def _error(path: str, errors: list[Mapping[str, Any]]) -> Exception:
    first = errors[0]
    code = _code(first) or ""
    # Shopify quotes the search query back at times, and a query may hold an address.
    message = redact(str(first.get("message") or json.dumps(first)[:200]))[:200]
    said = f"POST {path}: Shopify answered {code or 'an error'}: {message}"
    if code in _ACCESS_CODES:
        return AuthError(f"{said}; check the access token's scopes", vendor_message=message)
    if code in ("INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"):
        return TransientError(said, vendor_message=message)
    return PermanentError(said, vendor_message=message)
