"""The canonical customer schema: the data contract every team and every spoke agrees on.

Field names follow the Segment spec (reserved traits, event fields) so that data from any
Segment- or RudderStack-speaking client maps without translation. Anything the spec does
not reserve goes into ``attributes`` (persons, accounts) or ``properties`` (events).
"""

from __future__ import annotations

import contextlib
import functools
import re
from datetime import UTC, date, datetime
from enum import StrEnum
from operator import attrgetter
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from ._errors import ValidationFailed
from ._normalize import BUILTIN_IDENTIFIER_TYPES, check_identifier_type, normalize_identifier
from ._segment import SEGMENT_SPEC, EventType, SegmentField, SegmentFieldType


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class _Model(BaseModel):
    # Inputs are personal data: a validation error names the field and the rule, never
    # the value (pydantic would otherwise quote it in ``str(exc)``).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, hide_input_in_errors=True)


M = TypeVar("M", bound=BaseModel)


def trusted_model(cls: type[M], values: dict[str, Any]) -> M:
    """An instance of ``cls`` holding ``values`` as they are: every field given, every
    value already of its field's type and validated (what ``model_construct`` builds when
    given every field, at a third of its cost, which shows on the hub's hot paths). Never
    for values from outside: nothing is checked."""
    model = cls.__new__(cls)
    object.__setattr__(model, "__dict__", values)
    object.__setattr__(model, "__pydantic_fields_set__", set(values))
    object.__setattr__(model, "__pydantic_extra__", None)
    object.__setattr__(model, "__pydantic_private__", None)
    return model


def _as_utc(moment: datetime) -> datetime:
    # Naive datetimes are read as UTC so that naive and aware values can be compared.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class Identifier(BaseModel):
    """One way of recognising a person: a type and its normalized value.

    Built-in types are ``user_id``, ``anonymous_id``, ``email`` and ``phone``; any other
    system's key is namespaced, ``system:key`` (``shopify:customer_id``). The value is
    normalized on construction, so two ``Identifier`` objects are equal exactly when they
    name the same thing.
    """

    model_config = ConfigDict(frozen=True, hide_input_in_errors=True)

    type: str
    value: str

    @model_validator(mode="before")
    @classmethod
    def _normalize(cls, data: Any) -> Any:
        if isinstance(data, dict) and "type" in data and "value" in data:
            try:
                type_ = check_identifier_type(str(data["type"]))
                data = {**data, "value": normalize_identifier(type_, data["value"])}
            except ValidationFailed as exc:
                # "email: is not a valid e-mail address": the rule, never the raw value.
                raise ValueError(str(exc)) from None
        return data

    @classmethod
    def parse(cls, text: str) -> Identifier:
        """Read ``TYPE:VALUE`` (``email:ada@example.com``, ``shopify:customer_id:42``).

        Built-in types take everything after the first colon as the value; a namespaced
        type takes two colon-separated parts, so the value may itself contain colons.

        :raises ValueError: when ``text`` has no type, or the value breaks the type's rule.
        """
        for builtin in BUILTIN_IDENTIFIER_TYPES:
            if text.startswith(builtin + ":"):
                return cls(type=builtin, value=text[len(builtin) + 1 :])
        parts = text.split(":", 2)
        if len(parts) == 3:
            return cls(type=f"{parts[0]}:{parts[1]}", value=parts[2])
        raise ValueError("expected TYPE:VALUE, e.g. email:ada@example.com")

    @classmethod
    def trusted(cls, type_: str, normalized: str) -> Identifier:
        """An identifier from a type and a value already checked and normalized by
        :func:`normalize_identifier` (which checks the type too): what construction would
        give, without validating the same value a second time."""
        return trusted_model(cls, {"type": type_, "value": normalized})

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


class Address(_Model):
    """A postal address (Segment's ``address`` trait)."""

    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


PiiClass = Literal["contact", "sensitive", "none"]
"""How personal a field is. ``contact``: names and reaches the person (name, e-mail,
phone, address); ``sensitive``: says something about them they may not want known
(birthday, age, gender); ``none``: neither. Log redaction masks the values of
``contact`` and ``sensitive`` fields whole, and exports and warehouse tables mark them as
personal."""


def _pii(kind: PiiClass) -> Any:
    return Field(default=None, json_schema_extra={"pii": kind})


class Person(_Model):
    """A person's traits: the Segment spec's reserved traits plus free ``attributes``.

    Each field carries its :data:`PiiClass` (see :func:`pii_classes`)."""

    first_name: str | None = _pii("contact")
    last_name: str | None = _pii("contact")
    name: str | None = _pii("contact")
    email: str | None = _pii("contact")
    phone: str | None = _pii("contact")
    title: str | None = None
    username: str | None = _pii("contact")
    gender: str | None = _pii("sensitive")
    birthday: date | None = _pii("sensitive")
    age: int | None = Field(default=None, ge=0, le=150, json_schema_extra={"pii": "sensitive"})
    avatar: str | None = _pii("contact")
    website: str | None = None
    description: str | None = None
    address: Address | None = _pii("contact")
    created_at: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


def pii_classes(model: type[BaseModel]) -> dict[str, PiiClass]:
    """The :data:`PiiClass` of each field of a schema model (``none`` where unmarked)."""
    classes: dict[str, PiiClass] = {}
    for name, info in model.model_fields.items():
        extra = info.json_schema_extra
        kind = extra.get("pii") if isinstance(extra, dict) else None
        classes[name] = kind if kind in ("contact", "sensitive") else "none"  # type: ignore[assignment]
    return classes


class Account(_Model):
    """An organisation (B2B): Segment's group traits."""

    account_id: str = Field(min_length=1)
    name: str | None = None
    industry: str | None = None
    employees: int | None = Field(default=None, ge=0)
    plan: str | None = None
    website: str | None = None
    address: Address | None = None
    created_at: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


class Membership(_Model):
    """A person's membership of an account.

    A person who changes employer keeps their own history: the old membership gets an
    ``ended_at`` and a new one starts; neither the person nor their events move.
    """

    account_id: str = Field(min_length=1)
    role: str | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Membership:
        if self.started_at and self.ended_at and _as_utc(self.ended_at) < _as_utc(self.started_at):
            raise ValueError("ended_at must not be before started_at")
        return self


class ConsentPurpose(StrEnum):
    """What a consent is for. Destinations declare which purpose each send serves."""

    EMAIL_MARKETING = "email_marketing"
    SMS_MARKETING = "sms_marketing"
    ADS_PERSONALIZATION = "ads_personalization"
    ANALYTICS = "analytics"
    #: Transactional service messages (order confirmations, support): not marketing.
    SERVICE = "service"


class Consent(_Model):
    """One consent decision, recorded once and honoured by every destination."""

    purpose: ConsentPurpose
    granted: bool
    source: str = Field(min_length=1, description="connection or tool that recorded it")
    recorded_at: datetime = Field(default_factory=utcnow)


def _wire(name: str) -> Any:
    # An Event attribute as the Segment spec declares it: wire name, limit, default.
    spec = SEGMENT_SPEC.field(name)
    alias = name if name != spec.attribute else None
    if spec.type is SegmentFieldType.OBJECT:
        return Field(default_factory=dict, alias=alias)
    if spec.type is SegmentFieldType.ID:
        # Segment clients send numeric IDs; they are IDs, not numbers (a bool is neither).
        return Field(
            default=None, alias=alias, max_length=spec.max_length, coerce_numbers_to_str=True
        )
    return Field(default=None, alias=alias, max_length=spec.max_length)


class _FromText:
    # A Segment timestamp: a datetime, or ISO 8601 text read as one; never a number,
    # which pydantic alone would read as seconds since 1970 and the ingestion API refuses.
    # Built from pydantic-core's own validators, so checking it costs no Python call.

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.union_schema(
            [
                core_schema.datetime_schema(strict=True),
                core_schema.chain_schema(
                    [core_schema.str_schema(strict=True), core_schema.datetime_schema()]
                ),
            ],
            custom_error_type="datetime_from_text",
            custom_error_message="must be an ISO 8601 date-time",
        )

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {"type": "string", "format": "date-time"}


class _NullAllowed:
    # A Segment object that may be null (its absence): read as None here, and made an
    # empty object by Event's model validator (a field validator would cost a Python call
    # for every object present).

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.nullable_schema(handler(source))


_Timestamp = Annotated[datetime, _FromText]
_Object = Annotated[dict[str, Any], _NullAllowed]


def _attributes(fields: tuple[SegmentField, ...]) -> tuple[str, ...]:
    return tuple(f.attribute for f in fields if f.attribute is not None)


_OBJECT_ATTRIBUTES = _attributes(SEGMENT_SPEC.of_type(SegmentFieldType.OBJECT))
_objects_of = attrgetter(*_OBJECT_ATTRIBUTES)
# The cross-field rules as attribute getters (C calls): an Event is validated several
# times per message on its way through the pipeline.
_NUL_FREE = tuple(
    (attrgetter(f.attribute), f"{f.name} {f.nul_rule}")
    for f in SEGMENT_SPEC.checked
    if not f.nul_allowed and f.attribute is not None
)
_IDENTITY = tuple(
    attrgetter(attribute)
    for attribute in _attributes(tuple(SEGMENT_SPEC.field(name) for name in SEGMENT_SPEC.identity))
)
_REQUIRED = {
    call_type: (
        attrgetter(SEGMENT_SPEC.field(name).attribute or ""),
        SEGMENT_SPEC.required_rule(call_type),
    )
    for call_type, name in SEGMENT_SPEC.required_by_type.items()
}


class Event(BaseModel):
    """A Segment-spec message, checked against :data:`SEGMENT_SPEC` (the rules the hub's
    ingestion applies, and what ingestion leaves to this model: timestamps read as
    date-times).

    Accepts Segment's camelCase wire names (``userId``, ``messageId``, ``sentAt``) as well as
    snake_case. Unknown top-level keys are kept in ``extra`` rather than refused, as Segment
    does, so a newer client never loses data.
    """

    model_config = ConfigDict(populate_by_name=True, extra="allow", hide_input_in_errors=True)

    type: EventType
    message_id: str | None = _wire("messageId")
    user_id: str | None = _wire("userId")
    anonymous_id: str | None = _wire("anonymousId")
    event: str | None = _wire("event")
    name: str | None = _wire("name")
    group_id: str | None = _wire("groupId")
    previous_id: str | None = _wire("previousId")
    properties: _Object = _wire("properties")
    traits: _Object = _wire("traits")
    context: _Object = _wire("context")
    integrations: _Object = _wire("integrations")
    timestamp: _Timestamp | None = _wire("timestamp")
    sent_at: _Timestamp | None = _wire("sentAt")
    original_timestamp: _Timestamp | None = _wire("originalTimestamp")
    received_at: _Timestamp | None = _wire("receivedAt")

    @model_validator(mode="after")
    def _spec_rules(self) -> Event:
        if None in _objects_of(self):
            for attribute in _OBJECT_ATTRIBUTES:
                if getattr(self, attribute) is None:
                    setattr(self, attribute, {})
        for value_of, rule in _NUL_FREE:
            value = value_of(self)
            if value is not None and "\x00" in value:
                raise ValueError(rule)
        for value_of in _IDENTITY:
            if value_of(self):
                break
        else:
            raise ValueError(SEGMENT_SPEC.identity_rule)
        required = _REQUIRED.get(self.type)
        if required is not None and not required[0](self):
            raise ValueError(required[1])
        return self

    def identifiers(self) -> list[Identifier]:
        """The identifiers this message carries: user and anonymous IDs, e-mail and phone traits,
        ``context.externalIds`` (see :func:`_external_identifier_type`), and for ``alias`` the
        previous ID. Values that fail normalization are left out."""
        found: list[Identifier] = []

        def add(type_: str, value: Any) -> None:
            if value in (None, ""):
                return
            # A malformed trait must not make the whole message unusable.
            with contextlib.suppress(ValidationFailed):
                found.append(_identifier(type_, str(value)))

        add("user_id", self.user_id)
        add("anonymous_id", self.anonymous_id)
        traits = self.traits or self.context.get("traits") or {}
        if isinstance(traits, dict):
            add("email", traits.get("email"))
            add("phone", traits.get("phone"))
        external = self.context.get("externalIds")
        if isinstance(external, list):
            for item in external:
                if not isinstance(item, dict) or item.get("collection", "users") != "users":
                    continue  # an account's ID (collection "accounts") names no person
                type_ = _external_identifier_type(item.get("type"))
                if type_ is not None:
                    add(type_, item.get("id"))
        if self.type is EventType.ALIAS:
            add("user_id", self.previous_id)
        return found


@functools.lru_cache(maxsize=65536)
def _identifier(type_: str, value: str) -> Identifier:
    # A person's events carry the same identifiers again and again; the instances are
    # frozen, so one can stand for them all. A value that fails is not cached.
    return Identifier.trusted(type_, normalize_identifier(type_, value))


_NOT_IN_TYPE = re.compile(r"[^a-z0-9_]+")


def _external_identifier_type(declared: object) -> str | None:
    """The identifier type of a Segment ``context.externalIds`` entry of type ``declared``.

    A built-in type (``email``, ``user_id``, ...) or a namespaced one (``shopify:customer_id``)
    is taken as it is; any other name Segment uses (``ga_client_id``, ``ios.idfa``) becomes
    ``external:<name>``, lower-cased with every run of other characters as ``_``
    (``external:ios_idfa``). ``None`` when nothing usable is left.
    """
    if not isinstance(declared, str) or not declared:
        return None
    with contextlib.suppress(ValidationFailed):
        return check_identifier_type(declared)
    name = _NOT_IN_TYPE.sub("_", declared.lower()).strip("_")
    if not name or not name[0].isalpha() or not name.isascii():
        return None
    return f"external:{name}"


class ScoredTrait(_Model):
    """A value computed by a model or a rule (churn risk, LTV, recommendations)."""

    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    value: Any
    model: str = Field(min_length=1)
    computed_at: datetime = Field(default_factory=utcnow)


class PrivacyAction(StrEnum):
    """What a data subject asks for (the kinds of Segment's regulations)."""

    #: Erase the person in the hub and in every destination that can delete.
    DELETE = "delete"
    #: Erase, then keep the identifiers out: new data carrying them is dropped.
    DELETE_AND_SUPPRESS = "delete_and_suppress"
    #: Lift an earlier suppression; nothing is erased.
    UNSUPPRESS = "unsuppress"
    #: Export what the hub holds about the person (a subject access request).
    ACCESS = "access"


class PrivacyRequest(_Model):
    """A privacy request that reached a tool (Shopify's ``customers/redact`` and
    ``customers/data_request``, a CRM's GDPR delete) and that the hub must carry out.

    A source yields it as the ``data`` of a :class:`SourceRecord` whose ``identifiers``
    name the data subject (at least one). The hub never stores it on a profile or routes
    it: the pipeline files it as a privacy request, exactly as if it had been made through
    the hub's own API, and carries it out (erasure in the hub and at every destination
    that can delete, with a receipt per destination; or an access export).

    :param action: what is asked.
    :param reference: the tool's own id for the request, kept on the hub's request so the
        two can be matched in an audit; never personal data.
    :param reason: why, in words the tool gave (free text, kept with the request).
    :param requested_at: when the subject asked, as the tool reports it.
    """

    action: PrivacyAction
    reference: str | None = Field(default=None, max_length=256)
    reason: str | None = Field(default=None, max_length=1000)
    requested_at: datetime = Field(default_factory=utcnow)


RecordKind = Literal[
    "person", "account", "membership", "consent", "event", "score", "privacy_request"
]

__all__ = [
    "Account",
    "Address",
    "Consent",
    "ConsentPurpose",
    "Event",
    "EventType",
    "Identifier",
    "Membership",
    "Person",
    "PiiClass",
    "PrivacyAction",
    "PrivacyRequest",
    "RecordKind",
    "ScoredTrait",
    "pii_classes",
    "utcnow",
]
