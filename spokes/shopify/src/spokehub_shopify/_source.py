"""The Shopify source: customers and orders pulled through the GraphQL Admin API, and the
same pushed by signed webhooks."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import datetime
from typing import Any, ClassVar

from pydantic import ValidationError

from spokehub_contracts import (
    AuthError,
    Capabilities,
    CheckResult,
    CheckStatus,
    ConfigError,
    ModifiedSince,
    PermanentError,
    PrivacyAction,
    PrivacyRequest,
    RateLimit,
    RejectedRecord,
    Source,
    SourceRecord,
    SpokeError,
    StateCheckpoint,
    Stream,
    TransientError,
    WebhookRequest,
    utcnow,
)

from . import _mapping as mapping
from ._config import ShopifyConfig
from ._graphql import CUSTOMERS_QUERY, LINE_ITEMS_QUERY, SHOP_QUERY, ShopifyGraphQL, orders_query
from ._webhooks import (
    CUSTOMER_TOPICS,
    ORDER_TOPICS,
    PRIVACY_TOPICS,
    SHOP_HEADER,
    TOPIC_HEADER,
    TRIGGERED_HEADER,
    delivery_id,
    header,
    verified,
)

logger = logging.getLogger("spokehub_shopify")

#: Each stream's time filter: customers by when they changed, orders by when they were
#: placed (an order placed is one ``Order Completed``; a later edit is no new purchase).
_CURSOR_FIELD = {"customers": "updated_at", "orders": "created_at"}
_STATE_RULE = (
    'must look like {"since": "<ISO time>" or null, "boundary": [<ids>], "cursor": ...};'
    " reset the stream's state to read it whole again"
)


class ShopifySource(Source):
    """Reads a Shopify shop's customers and orders, and takes its webhooks.

    **Pull.** Each stream is read in pages of the GraphQL Admin API's cursor paging
    (``pageInfo.endCursor``), sorted by the stream's time (customers ``UPDATED_AT``,
    orders ``CREATED_AT``) and filtered to what changed since the last run
    (``query: "updated_at:>='…'"``). The state after each page is the run's filter and
    the page's ``endCursor``, so a stopped run resumes at the next page; the state after
    the last page is the newest time read and the ids read at that very second, which the
    next run (reading from that second on, so nothing changed later in the same second is
    missed) skips unless they changed again.

    **Push.** ``orders/create`` and ``orders/paid`` give the order's ``Order Completed``;
    ``customers/create`` and ``customers/update`` the person and their consents;
    ``customers/redact`` and ``customers/data_request`` a privacy request. The records
    are the same as a pull's, so a webhook and a pull of one order are stored once.
    """

    name = "shopify"
    description = "Shopify customers, orders and consent: webhooks and GraphQL Admin API pulls"
    Config: ClassVar[type[ShopifyConfig]] = ShopifyConfig
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("person", "consent", "event", "privacy_request"),
        identifier_types=(mapping.CUSTOMER_ID_TYPE, "email", "phone"),
        # The API's own limit is in query points (waited out as each answer states);
        # this keeps a burst of requests from outrunning the first answers.
        rate_limit=RateLimit(requests=10, per_seconds=1.0),
        incremental=True,
        webhooks=True,
    )

    config: ShopifyConfig

    def __init__(self, config: ShopifyConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self._api: ShopifyGraphQL | None = None

    @property
    def api(self) -> ShopifyGraphQL:
        if self._api is None:
            self._api = ShopifyGraphQL(self.config, self.capabilities)
        return self._api

    async def aclose(self) -> None:
        if self._api is not None:
            await self._api.aclose()
            self._api = None

    async def check(self) -> CheckResult:
        """Reads the shop's name: a refused token, an unreachable shop and an address
        that is no Shopify shop are told apart."""
        try:
            data = await self.api.query(SHOP_QUERY)
        except AuthError as exc:
            return CheckResult(status=CheckStatus.AUTH_ERROR, message=str(exc))
        except (TransientError, SpokeError) as exc:
            status = (
                CheckStatus.CONFIG_ERROR
                if isinstance(exc, PermanentError)
                else CheckStatus.UNREACHABLE
            )
            return CheckResult(status=status, message=str(exc))
        shop = (data or {}).get("shop") if isinstance(data, Mapping) else None
        if not isinstance(shop, Mapping):
            return CheckResult(
                status=CheckStatus.CONFIG_ERROR,
                message=f"{self.config.base_url} answered no shop: is base_url a Shopify shop?",
            )
        return CheckResult(status=CheckStatus.OK, message=f"shop {shop.get('myshopifyDomain')}")

    async def streams(self) -> Sequence[Stream]:
        offered = {
            "customers": Stream(
                name="customers",
                kind="person",
                incremental=True,
                description="customers as persons, with e-mail and SMS marketing consent",
            ),
            "orders": Stream(
                name="orders",
                kind="event",
                incremental=True,
                description="orders as Order Completed events with their products",
            ),
        }
        return [offered[name] for name in self.config.streams]

    # -- pull ----------------------------------------------------------------------------

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        if stream not in _CURSOR_FIELD:
            raise ConfigError(f"streams.{stream}", "must be customers or orders")
        read, cursor = _read_state(stream, state)
        filter_ = f"{_CURSOR_FIELD[stream]}:>='{read.since}'" if read.since else None
        if stream == "customers":
            query, size = CUSTOMERS_QUERY, self.config.customers_page_size
        else:
            query = orders_query(self.config.line_items_per_order)
            size = self.config.orders_page_size
        while True:
            variables = {"first": size, "after": cursor, "query": filter_}
            data = await self.api.query(query, variables)
            connection = (data or {}).get(stream) if isinstance(data, Mapping) else None
            if not isinstance(connection, Mapping):
                raise PermanentError(f"Shopify's answer holds no {stream!r} connection")
            for node in connection.get("nodes") or ():
                if not isinstance(node, Mapping):
                    continue
                at = node.get("updatedAt" if stream == "customers" else "createdAt")
                key = (str(node.get("id")), at if isinstance(at, str) else None)
                moment = mapping.moment(at)
                record_time = _iso(moment) if moment else None
                ident = mapping.numeric_id(node.get("id")) or ""
                if read.fresh(ident, record_time, key):
                    for item in await self._records(stream, node):
                        yield item
            read.page_read()
            info = connection.get("pageInfo") or {}
            end = info.get("endCursor")
            if info.get("hasNextPage") and isinstance(end, str) and end:
                cursor = end
                yield StateCheckpoint(stream=stream, state=read.resume_state("cursor", cursor))
                continue
            yield StateCheckpoint(stream=stream, state=read.next_run_state("cursor"))
            return

    async def _records(
        self, stream: str, node: Mapping[str, Any]
    ) -> list[SourceRecord | RejectedRecord]:
        try:
            if stream == "customers":
                customer = mapping.customer_from_node(node)
                return list(mapping.customer_records(customer, stream, self.connection))
            more = await self._more_line_items(node)
            return [mapping.order_record(mapping.order_from_node(node, more), stream)]
        except mapping.MappingFailed as exc:
            return [_rejected(stream, node, exc.field, exc.rule)]
        except ValidationError as exc:
            # A schema rule the node breaks: pydantic names the field, never the value.
            first = exc.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in first["loc"]) or "(node)"
            return [_rejected(stream, node, where, first["msg"])]

    async def _more_line_items(self, node: Mapping[str, Any]) -> list[Mapping[str, Any]]:
        """The line items of an order beyond those its page brought."""
        info = (node.get("lineItems") or {}).get("pageInfo") or {}
        more: list[Mapping[str, Any]] = []
        after = info.get("endCursor")
        while info.get("hasNextPage") and after:
            data = await self.api.query(LINE_ITEMS_QUERY, {"id": node.get("id"), "after": after})
            items = ((data or {}).get("order") or {}).get("lineItems") or {}
            more.extend(i for i in items.get("nodes") or () if isinstance(i, Mapping))
            info = items.get("pageInfo") or {}
            after = info.get("endCursor")
        return more

    # -- push ----------------------------------------------------------------------------

    async def verify_webhook(self, request: WebhookRequest) -> bool:
        secret = self.config.webhook_secret
        return verified(
            request.headers, request.body, secret.get_secret_value() if secret else None
        )

    def webhook_delivery_id(self, request: WebhookRequest) -> str | None:
        """``X-Shopify-Event-Id``, the same on every delivery of one event, or on older API
        versions ``X-Shopify-Webhook-Id``, the same on every retry of one delivery."""
        return delivery_id(request.headers)

    async def parse_webhook(self, request: WebhookRequest) -> Sequence[SourceRecord]:
        """The records of a verified webhook; a topic the spoke does not read gives none.

        :raises ValueError: the body is not a JSON object, or not the topic's shape.
        """
        topic = (header(request.headers, TOPIC_HEADER) or "").strip()
        payload = json.loads(request.body)
        if not isinstance(payload, Mapping):
            raise ValueError("a Shopify webhook's body is a JSON object")
        try:
            if topic in ORDER_TOPICS:
                return [mapping.order_record(mapping.order_from_payload(payload), "orders")]
            if topic in CUSTOMER_TOPICS:
                customer = mapping.customer_from_payload(payload)
                return mapping.customer_records(customer, "customers", self.connection)
        except mapping.MappingFailed as exc:
            raise ValueError(f"{topic}: {exc.field} {exc.rule}") from None
        if topic in PRIVACY_TOPICS:
            return self._privacy(topic, payload, request)
        logger.info("Shopify webhook topic %r is not read; acknowledged", topic[:60])
        return []

    def _privacy(
        self, topic: str, payload: Mapping[str, Any], request: WebhookRequest
    ) -> list[SourceRecord]:
        shop = str(payload.get("shop_domain") or header(request.headers, SHOP_HEADER) or "")
        if topic == "shop/redact":
            # No subject: the shop uninstalled the app 48 hours ago. The hub is the
            # merchant's own; what it holds of the shop's customers goes with each
            # customer's customers/redact, which Shopify sends for every one of them.
            logger.info("Shopify shop/redact acknowledged for %s; nothing held per shop", shop)
            return []
        customer = payload.get("customer")
        if not isinstance(customer, Mapping):
            raise ValueError(f"{topic}: customer must be an object")
        ids = mapping.identifiers(
            mapping.numeric_id(customer.get("id")),
            mapping.text(customer.get("email")),
            mapping.text(customer.get("phone")),
        )
        if not ids:
            raise ValueError(f"{topic}: customer names no id, e-mail or phone")
        if topic == "customers/redact":
            orders = payload.get("orders_to_redact") or []
            action = PrivacyAction.DELETE
            reason = f"Shopify customers/redact from {shop} ({len(orders)} orders to redact)"
            reference = delivery_id(request.headers)
        else:
            orders = payload.get("orders_requested") or []
            action = PrivacyAction.ACCESS
            reason = f"Shopify customers/data_request from {shop} ({len(orders)} orders)"
            number = (payload.get("data_request") or {}).get("id")
            reference = f"data_request:{number}" if number else delivery_id(request.headers)
        return [
            SourceRecord(
                stream="privacy",
                record_id=reference,
                identifiers=ids,
                data=PrivacyRequest(
                    action=action,
                    reference=reference[:256] if reference else None,
                    reason=reason[:1000],
                    requested_at=_triggered_at(request) or utcnow(),
                ),
            )
        ]


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _triggered_at(request: WebhookRequest) -> datetime | None:
    return mapping.moment(header(request.headers, TRIGGERED_HEADER))


def _valid_time(value: Any) -> str | None:
    moment = mapping.moment(value)
    return _iso(moment) if moment else None


def _rejected(stream: str, node: Mapping[str, Any], field: str, rule: str) -> RejectedRecord:
    return RejectedRecord(
        stream=stream,
        location=f"{stream} {node.get('id')}",
        field=field,
        rule=rule,
        raw=dict(node),
    )


def _read_state(stream: str, state: Mapping[str, Any] | None) -> tuple[ModifiedSince, str | None]:
    """Where a read of ``stream`` starts, and the cursor within its query."""
    if not state:
        return ModifiedSince(), None
    since = state.get("since")
    boundary = state.get("boundary") or []
    cursor = state.get("cursor")
    if (
        not (since is None or _valid_time(since))
        or not isinstance(boundary, list)
        or not (cursor is None or isinstance(cursor, str))
    ):
        raise ConfigError(f"state of stream {stream!r}", _STATE_RULE)
    ids = [str(b) for b in boundary]
    if cursor is None:
        return ModifiedSince(_valid_time(since), ids), None
    # Resumed within a run: what the pages before the cursor found still counts.
    newest_ids = [str(i) for i in state.get("newest_ids") or ()]
    newest = _valid_time(state.get("newest"))
    return ModifiedSince(_valid_time(since), ids, newest=newest, newest_ids=newest_ids), cursor
