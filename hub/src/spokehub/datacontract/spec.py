"""The data contract as configuration: declared traits and events.

The contract lives in the project (a ``contract:`` section of spokehub.yaml or a
``contract.yaml`` beside it), is reviewed like code, and extends the canonical schema:
the Segment spec's reserved traits and e-commerce events are in it by default.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldType = Literal[
    "string", "number", "integer", "boolean", "datetime", "email", "object", "array"
]
PiiClass = Literal["none", "direct", "indirect", "sensitive"]
Mode = Literal["enforce", "warn", "off"]
UnknownPolicy = Literal["allow", "quarantine", "drop"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FieldSpec(_Strict):
    """One trait or event property: its type, whether it is required, and its rules."""

    type: FieldType = "string"
    required: bool = False
    enum: list[str | int | float] | None = None
    minimum: float | None = None
    maximum: float | None = None
    pattern: str | None = None
    description: str = ""
    pii: PiiClass = "none"
    owner: str | None = None
    survivorship: Literal["latest", "first", "source_priority"] = "latest"

    @model_validator(mode="after")
    def _consistent(self) -> FieldSpec:
        if self.enum is not None and not self.enum:
            raise ValueError("enum must list at least one value")
        if self.type in ("object", "array", "boolean") and (self.enum or self.pattern):
            raise ValueError(f"enum and pattern do not apply to type {self.type}")
        return self


class EventSpec(_Strict):
    """A track event and the schema of its properties."""

    description: str = ""
    owner: str | None = None
    properties: dict[str, FieldSpec] = Field(default_factory=dict)
    additional_properties: bool = True


class SourcePolicy(_Strict):
    """How the pipeline treats one source connection's data.

    :param mode: ``enforce`` quarantines violations, ``warn`` delivers and counts them,
        ``off`` skips the checks.
    :param unknown_events: what to do with a track event the contract does not declare.
    :param unknown_traits: what to do with a trait the contract does not declare.
    :param events: the events this source may send (all declared ones when absent).
    """

    mode: Mode = "enforce"
    unknown_events: UnknownPolicy = "allow"
    unknown_traits: UnknownPolicy = "allow"
    events: list[str] | None = None


class ContractSpec(_Strict):
    """The project's contract. ``traits`` and ``events`` add to the built-in defaults;
    ``sources`` sets the policy per source connection (``default`` for the rest)."""

    version: str | int | None = None
    traits: dict[Literal["person", "account"], dict[str, FieldSpec]] = Field(default_factory=dict)
    events: dict[str, EventSpec] = Field(default_factory=dict)
    sources: dict[str, SourcePolicy] = Field(default_factory=dict)
    include_defaults: bool = True

    def policy(self, connection: str) -> SourcePolicy:
        return self.sources.get(connection) or self.sources.get("default") or SourcePolicy()


def _f(type_: FieldType = "string", **kw: Any) -> FieldSpec:
    return FieldSpec(type=type_, **kw)


#: The Segment spec's reserved person traits, all optional.
RESERVED_PERSON_TRAITS: dict[str, FieldSpec] = {
    "first_name": _f(pii="direct"),
    "last_name": _f(pii="direct"),
    "firstName": _f(pii="direct"),
    "lastName": _f(pii="direct"),
    "name": _f(pii="direct"),
    "email": _f("email", pii="direct"),
    "phone": _f(pii="direct"),
    "title": _f(),
    "username": _f(pii="direct"),
    "gender": _f(pii="sensitive"),
    "birthday": _f(pii="indirect"),
    "age": _f("integer", minimum=0, maximum=150, pii="indirect"),
    "avatar": _f(),
    "website": _f(),
    "description": _f(),
    "address": _f("object", pii="direct"),
    "company": _f("object"),
    "created_at": _f("datetime"),
    "createdAt": _f("datetime"),
    "id": _f(),
}

RESERVED_ACCOUNT_TRAITS: dict[str, FieldSpec] = {
    "name": _f(),
    "industry": _f(),
    "employees": _f("integer", minimum=0),
    "plan": _f(),
    "website": _f(),
    "address": _f("object"),
    "created_at": _f("datetime"),
    "createdAt": _f("datetime"),
    "id": _f(),
}

_PRODUCT = {
    "product_id": _f(),
    "sku": _f(),
    "category": _f(),
    "name": _f(),
    "brand": _f(),
    "variant": _f(),
    "price": _f("number"),
    "quantity": _f("integer", minimum=0),
    "coupon": _f(),
    "position": _f("integer"),
    "url": _f(),
    "image_url": _f(),
}
_ORDER = {
    "order_id": _f(),
    "checkout_id": _f(),
    "affiliation": _f(),
    "total": _f("number"),
    "subtotal": _f("number"),
    "revenue": _f("number"),
    "shipping": _f("number"),
    "tax": _f("number"),
    "discount": _f("number"),
    "coupon": _f(),
    "currency": _f(pattern="^[A-Z]{3}$"),
    "products": _f("array"),
}

#: Segment's e-commerce spec events, with their documented properties (all optional, as
#: in the spec; a project narrows them in its own contract).
SEGMENT_ECOMMERCE_EVENTS: dict[str, EventSpec] = {
    "Products Searched": EventSpec(properties={"query": _f()}),
    "Product List Viewed": EventSpec(
        properties={"list_id": _f(), "category": _f(), "products": _f("array")}
    ),
    "Product Clicked": EventSpec(properties=dict(_PRODUCT)),
    "Product Viewed": EventSpec(properties={**_PRODUCT, "currency": _ORDER["currency"]}),
    "Product Added": EventSpec(properties={**_PRODUCT, "cart_id": _f()}),
    "Product Removed": EventSpec(properties={**_PRODUCT, "cart_id": _f()}),
    "Cart Viewed": EventSpec(properties={"cart_id": _f(), "products": _f("array")}),
    "Checkout Started": EventSpec(properties=dict(_ORDER)),
    "Payment Info Entered": EventSpec(properties={"checkout_id": _f(), "order_id": _f()}),
    "Order Completed": EventSpec(properties=dict(_ORDER)),
    "Order Updated": EventSpec(properties=dict(_ORDER)),
    "Order Refunded": EventSpec(properties=dict(_ORDER)),
    "Order Cancelled": EventSpec(properties=dict(_ORDER)),
    "Coupon Applied": EventSpec(
        properties={"order_id": _f(), "cart_id": _f(), "coupon_id": _f(), "discount": _f("number")}
    ),
}


class EffectiveContract(BaseModel):
    """The defaults merged with the project's additions: what the pipeline enforces."""

    person_traits: dict[str, FieldSpec]
    account_traits: dict[str, FieldSpec]
    events: dict[str, EventSpec]
    sources: dict[str, SourcePolicy]
    version: str | int | None = None

    def policy(self, connection: str) -> SourcePolicy:
        return self.sources.get(connection) or self.sources.get("default") or SourcePolicy()


def effective(spec: ContractSpec | None) -> EffectiveContract:
    """Merge ``spec`` over the built-in defaults (project entries win)."""
    spec = spec or ContractSpec()
    base = spec.include_defaults
    return EffectiveContract(
        person_traits={**(RESERVED_PERSON_TRAITS if base else {}), **spec.traits.get("person", {})},
        account_traits={
            **(RESERVED_ACCOUNT_TRAITS if base else {}),
            **spec.traits.get("account", {}),
        },
        events={**(SEGMENT_ECOMMERCE_EVENTS if base else {}), **spec.events},
        sources=dict(spec.sources),
        version=spec.version,
    )
