"""The canonical customer schema: the data contract every team and every spoke agrees on.

Field names follow the Segment spec (reserved traits, event fields) so that data from any
Segment- or RudderStack-speaking client maps without translation. Anything the spec does
not reserve goes into ``attributes`` (persons, accounts) or ``properties`` (events).
"""

from __future__ import annotations

import contextlib
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ._errors import ValidationFailed
from ._normalize import BUILTIN_IDENTIFIER_TYPES, check_identifier_type, normalize_identifier


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class _Model(BaseModel):
    # Inputs are personal data: a validation error names the field and the rule, never
    # the value (pydantic would otherwise quote it in ``str(exc)``).
    model_config = ConfigDict(extra="forbid", populate_by_name=True, hide_input_in_errors=True)


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

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


class Address(_Model):
    """A postal address (Segment's ``address`` trait)."""

    street: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None
    country: str | None = None


class Person(_Model):
    """A person's traits: the Segment spec's reserved traits plus free ``attributes``."""

    first_name: str | None = None
    last_name: str | None = None
    name: str | None = None
    email: str | None = None
    phone: str | None = None
    title: str | None = None
    username: str | None = None
    gender: str | None = None
    birthday: date | None = None
    age: int | None = Field(default=None, ge=0, le=150)
    avatar: str | None = None
    website: str | None = None
    description: str | None = None
    address: Address | None = None
    created_at: datetime | None = None
    attributes: dict[str, Any] = Field(default_factory=dict)


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


class Consent(_Model):
    """One consent decision, recorded once and honoured by every destination."""

    purpose: ConsentPurpose
    granted: bool
    source: str = Field(min_length=1, description="connection or tool that recorded it")
    recorded_at: datetime = Field(default_factory=utcnow)


class EventType(StrEnum):
    """The six Segment spec call types."""

    IDENTIFY = "identify"
    TRACK = "track"
    PAGE = "page"
    SCREEN = "screen"
    GROUP = "group"
    ALIAS = "alias"


class Event(BaseModel):
    """A Segment-spec message.

    Accepts Segment's camelCase wire names (``userId``, ``messageId``, ``sentAt``) as well as
    snake_case. Unknown top-level keys are kept in ``extra`` rather than refused, as Segment
    does, so a newer client never loses data.
    """

    model_config = ConfigDict(populate_by_name=True, extra="allow", hide_input_in_errors=True)

    type: EventType
    message_id: str | None = Field(default=None, alias="messageId", max_length=256)
    user_id: str | None = Field(default=None, alias="userId", max_length=512)
    anonymous_id: str | None = Field(default=None, alias="anonymousId", max_length=512)
    event: str | None = Field(default=None, max_length=512)
    name: str | None = Field(default=None, max_length=512)
    group_id: str | None = Field(default=None, alias="groupId", max_length=512)
    previous_id: str | None = Field(default=None, alias="previousId", max_length=512)
    properties: dict[str, Any] = Field(default_factory=dict)
    traits: dict[str, Any] = Field(default_factory=dict)
    context: dict[str, Any] = Field(default_factory=dict)
    integrations: dict[str, Any] = Field(default_factory=dict)
    timestamp: datetime | None = None
    sent_at: datetime | None = Field(default=None, alias="sentAt")
    received_at: datetime | None = Field(default=None, alias="receivedAt")

    @field_validator("user_id", "anonymous_id", "group_id", "previous_id", mode="before")
    @classmethod
    def _ids_as_text(cls, value: Any) -> Any:
        # Segment clients send numeric IDs; they are IDs, not numbers.
        if isinstance(value, int | float) and not isinstance(value, bool):
            return str(value)
        return value

    @model_validator(mode="after")
    def _spec_rules(self) -> Event:
        if not (self.user_id or self.anonymous_id):
            raise ValueError("userId or anonymousId is required")
        if self.type is EventType.TRACK and not self.event:
            raise ValueError("event is required for a track call")
        if self.type is EventType.GROUP and not self.group_id:
            raise ValueError("groupId is required for a group call")
        if self.type is EventType.ALIAS and not self.previous_id:
            raise ValueError("previousId is required for an alias call")
        return self

    def identifiers(self) -> list[Identifier]:
        """The identifiers this message carries: user and anonymous IDs, e-mail and phone traits,
        and for ``alias`` the previous ID. Values that fail normalization are left out."""
        found: list[Identifier] = []

        def add(type_: str, value: Any) -> None:
            if value in (None, ""):
                return
            # A malformed trait must not make the whole message unusable.
            with contextlib.suppress(ValueError):
                found.append(Identifier(type=type_, value=str(value)))

        add("user_id", self.user_id)
        add("anonymous_id", self.anonymous_id)
        traits = self.traits or self.context.get("traits") or {}
        if isinstance(traits, dict):
            add("email", traits.get("email"))
            add("phone", traits.get("phone"))
        if self.type is EventType.ALIAS:
            add("user_id", self.previous_id)
        return found


class ScoredTrait(_Model):
    """A value computed by a model or a rule (churn risk, LTV, recommendations)."""

    name: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    value: Any
    model: str = Field(min_length=1)
    computed_at: datetime = Field(default_factory=utcnow)


RecordKind = Literal["person", "account", "membership", "consent", "event", "score"]

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
    "RecordKind",
    "ScoredTrait",
    "utcnow",
]
