"""Shopify's customers and orders as the hub's records.

Shopify speaks two shapes: the GraphQL Admin API's nodes (camelCase, ids as GIDs such as
``gid://shopify/Customer/207119551``, enums in capitals) and the webhooks' payloads
(snake_case, numeric ids, the REST resources' shape). Each is read into one plain form
(:class:`Customer`, :class:`Order`) and records are built from that alone, so a customer
or an order pulled and the same one pushed by a webhook give records with the same
content, which the hub stores once.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from spokehub_contracts import (
    Address,
    Consent,
    ConsentPurpose,
    Event,
    Identifier,
    Person,
    SourceRecord,
    ValidationFailed,
)

#: The identifier type of a Shopify customer's id (the number of its GID).
CUSTOMER_ID_TYPE = "shopify:customer_id"
#: The Segment e-commerce spec's event for a placed order.
ORDER_COMPLETED = "Order Completed"
#: Marketing states that record a decision, and whether it grants consent. ``PENDING``
#: (double opt-in not confirmed), ``INVALID`` and ``REDACTED`` decide nothing.
_DECIDED = {"SUBSCRIBED": True, "UNSUBSCRIBED": False, "NOT_SUBSCRIBED": False}


def numeric_id(value: Any) -> str | None:
    """``gid://shopify/Customer/207119551`` (or ``207119551``) → ``"207119551"``."""
    if value is None or isinstance(value, bool):
        return None
    text = str(value).strip()
    if text.startswith("gid://"):
        text = text.rsplit("/", 1)[-1].split("?", 1)[0]
    return text if text.isdigit() else None


def moment(value: Any) -> datetime | None:
    """An ISO 8601 time as Shopify writes it (``2026-03-10T09:00:00Z`` or with an
    offset), in UTC; ``None`` for anything else."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def money(value: Any) -> float | None:
    """A decimal amount (``"199.00"``) as a number, to the cent."""
    if value is None or value == "":
        return None
    try:
        return float(round(Decimal(str(value)), 2))
    except (InvalidOperation, ValueError):
        return None


def _get(value: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


@dataclass(frozen=True)
class MarketingConsent:
    """A marketing consent as Shopify keeps it: its state (upper case) and when it was
    last changed."""

    state: str
    updated_at: datetime | None


@dataclass(frozen=True)
class Customer:
    """A Shopify customer, whichever shape it came in."""

    customer_id: str
    email: str | None = None
    phone: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    state: str | None = None
    locale: str | None = None
    tags: tuple[str, ...] = ()
    address: Address | None = None
    email_consent: MarketingConsent | None = None
    sms_consent: MarketingConsent | None = None


@dataclass(frozen=True)
class Product:
    """One line of an order, as the Segment e-commerce spec's product."""

    product_id: str | None
    sku: str | None
    name: str | None
    brand: str | None
    variant: str | None
    price: float | None
    quantity: int


@dataclass(frozen=True)
class Order:
    """A Shopify order, whichever shape it came in."""

    order_id: str
    name: str | None
    created_at: datetime | None
    currency: str | None
    total: float | None
    subtotal: float | None
    tax: float | None
    shipping: float | None
    discount: float | None
    coupons: tuple[str, ...] = ()
    customer_id: str | None = None
    email: str | None = None
    phone: str | None = None
    products: tuple[Product, ...] = field(default_factory=tuple)


class MappingFailed(Exception):
    """A node or payload that cannot become a record: ``field`` and ``rule`` say why."""

    def __init__(self, field: str, rule: str) -> None:
        super().__init__(f"{field}: {rule}")
        self.field = field
        self.rule = rule


# -- reading the GraphQL shape ---------------------------------------------------------


def _consent(state: Any, updated: Any) -> MarketingConsent | None:
    if not isinstance(state, str) or not state:
        return None
    return MarketingConsent(state.upper(), moment(updated))


def _address(
    street: Any, extra: Any, city: Any, province: Any, zip_: Any, country: Any
) -> Address | None:
    line = ", ".join(p for p in (text(street), text(extra)) if p) or None
    values = {
        "street": line,
        "city": text(city),
        "state": text(province),
        "postal_code": text(zip_),
        "country": text(country),
    }
    return Address(**values) if any(values.values()) else None


def _tags(value: Any) -> tuple[str, ...]:
    # GraphQL answers a list; the webhooks a comma-separated string.
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        return ()
    return tuple(sorted({t.strip() for t in items if isinstance(t, str) and t.strip()}))


# The webhooks' payloads are the REST resources: the GraphQL fields' names in snake_case,
# but for these.
_REST_NAMES = {"countryCodeV2": "country_code", "marketingState": "state"}


def _graphql_name(name: str) -> str:
    return name


def _rest_name(name: str) -> str:
    return _REST_NAMES.get(name) or re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def _customer(value: Mapping[str, Any], name: Callable[[str], str], id_rule: str) -> Customer:
    """A customer in either shape: ``name`` gives the shape's name of a GraphQL field."""

    def get(source: Mapping[str, Any], field: str) -> Any:
        return source.get(name(field))

    customer_id = numeric_id(value.get("id"))
    if customer_id is None:
        raise MappingFailed("id", id_rule)
    address = get(value, "defaultAddress") or {}
    email_consent = get(value, "emailMarketingConsent") or {}
    sms_consent = get(value, "smsMarketingConsent") or {}
    return Customer(
        customer_id=customer_id,
        email=text(value.get("email")),
        phone=text(value.get("phone")),
        first_name=text(get(value, "firstName")),
        last_name=text(get(value, "lastName")),
        created_at=moment(get(value, "createdAt")),
        updated_at=moment(get(value, "updatedAt")),
        state=(text(value.get("state")) or "").lower() or None,
        locale=text(value.get("locale")),
        tags=_tags(value.get("tags")),
        address=_address(
            address.get("address1"),
            address.get("address2"),
            address.get("city"),
            address.get("province"),
            address.get("zip"),
            get(address, "countryCodeV2"),
        ),
        email_consent=_consent(
            get(email_consent, "marketingState"), get(email_consent, "consentUpdatedAt")
        ),
        sms_consent=_consent(
            get(sms_consent, "marketingState"), get(sms_consent, "consentUpdatedAt")
        ),
    )


def customer_from_node(node: Mapping[str, Any]) -> Customer:
    """A customer of the GraphQL Admin API (``customers`` query)."""
    return _customer(node, _graphql_name, "must be a Shopify customer GID")


def _line_item_from_node(node: Mapping[str, Any]) -> Product:
    return Product(
        product_id=numeric_id(_get(node, "product", "id")),
        sku=text(node.get("sku")),
        name=text(node.get("name")),
        brand=text(node.get("vendor")),
        variant=text(node.get("variantTitle")),
        price=money(_get(node, "originalUnitPriceSet", "shopMoney", "amount")),
        quantity=int(node.get("quantity") or 0),
    )


def order_from_node(
    node: Mapping[str, Any], more_line_items: Sequence[Mapping[str, Any]] = ()
) -> Order:
    """An order of the GraphQL Admin API (``orders`` query), with the line items read
    beyond the first page of its ``lineItems``."""
    order_id = numeric_id(node.get("id"))
    if order_id is None:
        raise MappingFailed("id", "must be a Shopify order GID")
    customer = node.get("customer") or {}
    items = [*(_get(node, "lineItems", "nodes") or ()), *more_line_items]
    codes = node.get("discountCodes") or ()
    return Order(
        order_id=order_id,
        name=text(node.get("name")),
        created_at=moment(node.get("createdAt")),
        currency=text(node.get("currencyCode")),
        total=money(_get(node, "totalPriceSet", "shopMoney", "amount")),
        subtotal=money(_get(node, "subtotalPriceSet", "shopMoney", "amount")),
        tax=money(_get(node, "totalTaxSet", "shopMoney", "amount")),
        shipping=money(_get(node, "totalShippingPriceSet", "shopMoney", "amount")),
        discount=money(_get(node, "totalDiscountsSet", "shopMoney", "amount")),
        coupons=tuple(str(c) for c in codes if c),
        customer_id=numeric_id(customer.get("id")),
        email=text(customer.get("email")) or text(node.get("email")),
        phone=text(customer.get("phone")) or text(node.get("phone")),
        products=tuple(_line_item_from_node(i) for i in items if isinstance(i, Mapping)),
    )


# -- reading the webhook shape ---------------------------------------------------------


def customer_from_payload(payload: Mapping[str, Any]) -> Customer:
    """A customer of a ``customers/create`` or ``customers/update`` webhook."""
    return _customer(payload, _rest_name, "must be a Shopify customer id")


def order_from_payload(payload: Mapping[str, Any]) -> Order:
    """An order of an ``orders/create`` or ``orders/paid`` webhook."""
    order_id = numeric_id(payload.get("id"))
    if order_id is None:
        raise MappingFailed("id", "must be a Shopify order id")
    customer = payload.get("customer") or {}
    codes = [_get(c, "code") for c in payload.get("discount_codes") or ()]
    items = payload.get("line_items") or ()
    return Order(
        order_id=order_id,
        name=text(payload.get("name")),
        created_at=moment(payload.get("created_at")),
        currency=text(payload.get("currency")),
        total=money(payload.get("total_price")),
        subtotal=money(payload.get("subtotal_price")),
        tax=money(payload.get("total_tax")),
        shipping=money(_get(payload, "total_shipping_price_set", "shop_money", "amount")),
        discount=money(payload.get("total_discounts")),
        coupons=tuple(str(c) for c in codes if c),
        customer_id=numeric_id(customer.get("id")),
        email=text(customer.get("email")) or text(payload.get("email")),
        phone=text(customer.get("phone")) or text(payload.get("phone")),
        products=tuple(
            Product(
                product_id=numeric_id(item.get("product_id")),
                sku=text(item.get("sku")),
                name=text(item.get("name")),
                brand=text(item.get("vendor")),
                variant=text(item.get("variant_title")),
                price=money(item.get("price")),
                quantity=int(item.get("quantity") or 0),
            )
            for item in items
            if isinstance(item, Mapping)
        ),
    )


# -- records ---------------------------------------------------------------------------


def identifiers(
    customer_id: str | None, email: str | None, phone: str | None
) -> tuple[Identifier, ...]:
    """The identifiers of a customer: the Shopify id, the e-mail and the phone. A value
    that is no e-mail address or phone number is left out (the Segment messages' rule):
    the customer id still names the person."""
    found: list[Identifier] = []
    for type_, value in ((CUSTOMER_ID_TYPE, customer_id), ("email", email), ("phone", phone)):
        if value:
            with contextlib.suppress(ValueError, ValidationFailed):
                found.append(Identifier(type=type_, value=value))
    return tuple(found)


def customer_records(customer: Customer, stream: str, connection: str) -> list[SourceRecord]:
    """The person, and a consent record for each marketing consent Shopify has decided
    (e-mail and SMS)."""
    ids = identifiers(customer.customer_id, customer.email, customer.phone)
    attributes: dict[str, Any] = {}
    if customer.tags:
        attributes["tags"] = list(customer.tags)
    if customer.state:
        attributes["shopify_state"] = customer.state
    if customer.locale:
        attributes["locale"] = customer.locale
    person = Person(
        first_name=customer.first_name,
        last_name=customer.last_name,
        email=customer.email,
        phone=customer.phone,
        address=customer.address,
        created_at=customer.created_at,
        attributes=attributes,
    )
    observed = customer.updated_at or customer.created_at
    extra = {"observed_at": observed} if observed else {}
    records = [
        SourceRecord(
            stream=stream,
            record_id=customer.customer_id,
            identifiers=ids,
            data=person,
            **extra,
        )
    ]
    consents = (
        (ConsentPurpose.EMAIL_MARKETING, customer.email_consent),
        (ConsentPurpose.SMS_MARKETING, customer.sms_consent),
    )
    for purpose, consent in consents:
        if consent is None or consent.state not in _DECIDED:
            continue
        # NOT_SUBSCRIBED without a time was never asked: no decision to record.
        recorded = consent.updated_at
        if recorded is None and consent.state == "NOT_SUBSCRIBED":
            continue
        recorded = recorded or observed
        if recorded is None:
            continue
        records.append(
            SourceRecord(
                stream=stream,
                record_id=f"{customer.customer_id}:{purpose.value}",
                identifiers=ids,
                data=Consent(
                    purpose=purpose,
                    granted=_DECIDED[consent.state],
                    source=connection,
                    recorded_at=recorded,
                ),
                observed_at=recorded,
            )
        )
    return records


def order_record(order: Order, stream: str) -> SourceRecord:
    """An ``Order Completed`` event (Segment's e-commerce spec) with its products.

    Shopify knows no user id of the webshop's: the event's ``anonymousId`` is the
    customer's GID (the order's, for a checkout without a customer), and its identifiers
    (Shopify customer id, e-mail, phone) tie it to the person.
    """
    products = [
        {
            key: value
            for key, value in (
                ("product_id", p.product_id),
                ("sku", p.sku),
                ("name", p.name),
                ("brand", p.brand),
                ("variant", p.variant),
                ("price", p.price),
                ("quantity", p.quantity),
                ("position", position),
            )
            if value is not None
        }
        for position, p in enumerate(order.products, start=1)
    ]
    revenue = None
    if order.total is not None:
        revenue = round(order.total - (order.shipping or 0.0) - (order.tax or 0.0), 2)
    properties = {
        key: value
        for key, value in (
            ("order_id", order.order_id),
            ("order_name", order.name),
            ("total", order.total),
            ("revenue", revenue),
            ("subtotal", order.subtotal),
            ("shipping", order.shipping),
            ("tax", order.tax),
            ("discount", order.discount),
            ("coupon", ", ".join(order.coupons) or None),
            ("currency", order.currency),
            ("products", products),
        )
        if value is not None
    }
    anonymous = (
        f"gid://shopify/Customer/{order.customer_id}"
        if order.customer_id
        else f"gid://shopify/Order/{order.order_id}"
    )
    event = Event.model_validate(
        {
            "type": "track",
            "event": ORDER_COMPLETED,
            "messageId": f"shopify-order-{order.order_id}",
            "anonymousId": anonymous,
            "timestamp": order.created_at,
            "properties": properties,
        }
    )
    extra = {"observed_at": order.created_at} if order.created_at else {}
    return SourceRecord(
        stream=stream,
        record_id=order.order_id,
        identifiers=identifiers(order.customer_id, order.email, order.phone),
        data=event,
        **extra,
    )
