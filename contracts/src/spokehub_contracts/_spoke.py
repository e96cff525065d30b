"""The interfaces a spoke implements: :class:`Source` and :class:`Destination`.

A spoke is a class with a ``name``, a pydantic ``Config`` model and declared
:class:`Capabilities`. I/O methods are ``async``; a method a spoke does not support
keeps the base implementation, which raises ``NotImplementedError`` saying what to
implement. The hub never calls a method that the capabilities rule out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from enum import StrEnum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator

from ._normalize import _NAMESPACED
from ._records import Change, Outcome, RejectedRecord, SourceRecord, StateCheckpoint
from ._schema import Identifier


class SpokeConfig(BaseModel):
    """Base of every spoke's ``Config``. Unknown keys are refused so typos surface at
    ``spokehub config validate``; secrets must be typed ``SecretStr``."""

    model_config = ConfigDict(extra="forbid")


class RateLimit(BaseModel):
    """A request budget: ``requests`` per ``per_seconds``."""

    model_config = ConfigDict(frozen=True)

    requests: int = Field(gt=0)
    per_seconds: float = Field(default=1.0, gt=0)

    @property
    def per_second(self) -> float:
        return self.requests / self.per_seconds


class Capabilities(BaseModel):
    """What a spoke can do, declared once, checked by the hub and shown by ``spokehub spokes``.

    :param record_kinds: for a source, the kinds it yields; for a destination, the change
        kinds it accepts (``upsert_person``, ``event``, ``audience_entered``, ``forget``, …).
    :param batch_size: most items per ``write()`` call.
    :param rate_limit: the vendor's request budget; the toolkit client keeps to it.
    :param identifier_types: identifier types the vendor matches people on.
    :param can_delete: whether ``forget()`` really erases at the vendor.
    :param base_url: the vendor's API root; a connection may override it (sandboxes, EU hosts).
    :param incremental: a source that resumes from saved state.
    :param webhooks: a push source that verifies and parses webhooks.
    :param upserts: for a destination, whether it stores what an upsert change says an
        object looks like now (latest wins, the default). The hub then sends only the
        latest of several upserts of one object in one batch. A destination that keeps
        every version (an append-only log, a history table) declares ``False`` and
        receives each change.
    :param merges: for a destination, whether the vendor can merge two of its records
        (a CRM's merge endpoint); the hub then sends ``merge`` changes, and otherwise the
        survivor upserted and a ``forget`` for the absorbed contact.
    :param purposes: the consent purposes this destination's sends usually serve; a
        suggestion the connection's own ``purposes:`` overrides.
    :param external_id_type: for a destination whose ``Delivered`` outcomes of
        ``upsert_person`` items carry the vendor's id for the person, the namespaced
        identifier type that id is (``hubspot:contact_id``). The hub records it on the
        contact as an identifier, through its inbox like any record; the change it causes
        is never sent back to the destination that answered it. ``None`` (the default):
        external ids are kept with the outcome only.
    """

    model_config = ConfigDict(frozen=True)

    record_kinds: tuple[str, ...] = ()
    batch_size: int = Field(default=100, gt=0)
    rate_limit: RateLimit | None = None
    identifier_types: tuple[str, ...] = ()
    can_delete: bool = False
    base_url: HttpUrl | None = None
    incremental: bool = False
    webhooks: bool = False
    upserts: bool = True
    merges: bool = False
    purposes: tuple[str, ...] = ()
    external_id_type: str | None = None

    @field_validator("external_id_type")
    @classmethod
    def _namespaced(cls, value: str | None) -> str | None:
        if value is not None and not _NAMESPACED.match(value):
            raise ValueError("must be a namespaced identifier type such as 'hubspot:contact_id'")
        return value


class CheckStatus(StrEnum):
    OK = "ok"
    AUTH_ERROR = "auth_error"
    UNREACHABLE = "unreachable"
    CONFIG_ERROR = "config_error"


class CheckResult(BaseModel):
    """The answer of ``check()``: bad credentials are told apart from an outage."""

    status: CheckStatus
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status is CheckStatus.OK


class Stream(BaseModel):
    """A stream a source offers (``customers``, ``orders``) and the record kind it yields."""

    name: str
    kind: str
    incremental: bool = False
    description: str = ""


class WebhookRequest(BaseModel):
    """The raw request a push source receives, handed over untouched for verification."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = Field(default_factory=dict)


class _Spoke:
    name: ClassVar[str]
    Config: ClassVar[type[SpokeConfig]] = SpokeConfig
    capabilities: ClassVar[Capabilities] = Capabilities()
    description: ClassVar[str] = ""

    def __init__(self, config: SpokeConfig, *, connection: str = "") -> None:
        self.config = config
        self.connection = connection or self.name

    async def check(self) -> CheckResult:
        """Prove the configuration works: credentials accepted, vendor reachable."""
        return CheckResult(status=CheckStatus.OK, message="no check implemented")

    async def aclose(self) -> None:
        """Release connections. Called once when the hub stops using this instance."""


class Source(_Spoke):
    """A spoke that brings records into the hub, by pull (``read``) or push (webhooks)."""

    async def streams(self) -> Sequence[Stream]:
        """The streams this source offers."""
        raise NotImplementedError(f"{type(self).__name__} must implement streams()")

    def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        """Yield records of ``stream`` newer than ``state``, with checkpoints between them.

        Must be an async generator. Every record yielded before a checkpoint is committed
        with that checkpoint; a run that stops resumes from the last one. A row that cannot
        become a record is yielded as a :class:`RejectedRecord`, which the hub quarantines
        with its reason.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement read(stream, state)")

    def stream_status(self, stream: str) -> str | None:
        """A note on how the last ``read(stream, …)`` of this instance went, for the run
        record, or ``None`` (the default): e.g. ``RATE_LIMITED (quota resets at …)`` when
        the vendor throttled the stream, which the run record shows beside its counts.

        Called once the read has ended, whether it succeeded or failed. Free of secrets
        and personal data, like every message.

        .. versionadded:: 0.1
        """
        return None

    async def verify_webhook(self, request: WebhookRequest) -> bool:
        """True if the request really comes from the vendor (signature, shared secret)."""
        raise NotImplementedError(f"{type(self).__name__} must implement verify_webhook()")

    async def parse_webhook(self, request: WebhookRequest) -> Sequence[SourceRecord]:
        """Turn a verified webhook request into records."""
        raise NotImplementedError(f"{type(self).__name__} must implement parse_webhook()")

    def webhook_delivery_id(self, request: WebhookRequest) -> str | None:
        """The vendor's id of the event a verified webhook delivers, the same on every
        delivery of it (Shopify's ``X-Shopify-Event-Id``, Stripe's event id), or ``None``.

        With an id, the hub stores an event it took within its de-duplication window once,
        whatever the body of the repeat; without one (the default), a repeat is known by
        its records' content alone.

        .. versionadded:: 0.1
        """
        return None


class Destination(_Spoke):
    """A spoke that sends the hub's changes to a tool."""

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        """Send ``batch`` (at most ``capabilities.batch_size`` items) and answer one outcome
        per item. Raise ``AuthError``/``Throttled``/``TransientError`` for a failure of the
        whole call; answer ``Rejected`` for an item the vendor refused."""
        raise NotImplementedError(f"{type(self).__name__} must implement write(batch)")

    async def forget(self, identifiers: Sequence[Identifier]) -> Outcome:
        """Erase the person these identifiers name. Only called if ``can_delete``."""
        raise NotImplementedError(f"{type(self).__name__} must implement forget(identifiers)")
