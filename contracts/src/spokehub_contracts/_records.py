"""What flows across the spoke boundary.

Sources yield :class:`SourceRecord` objects (identifiers plus one schema object) and
:class:`StateCheckpoint` objects (where to resume). Destinations receive a batch of
:class:`Change` items and answer one :class:`Outcome` per item, in any order, keyed by
``item_id``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    computed_field,
    model_validator,
)

from ._schema import (
    Account,
    Consent,
    Event,
    Identifier,
    Membership,
    Person,
    PrivacyRequest,
    RecordKind,
    ScoredTrait,
    trusted_model,
    utcnow,
)


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)


_KIND_OF: dict[type[BaseModel], RecordKind] = {
    Person: "person",
    Account: "account",
    Membership: "membership",
    Consent: "consent",
    Event: "event",
    ScoredTrait: "score",
    PrivacyRequest: "privacy_request",
}


@dataclass(frozen=True)
class _Tagged:
    """Serialized record data together with the ``kind`` it was written with."""

    kind: str
    payload: Mapping[str, Any]


def _data_kind(value: Any) -> str | None:
    if isinstance(value, _Tagged):
        return value.kind
    for model, kind in _KIND_OF.items():
        if isinstance(value, model):
            return kind
    if isinstance(value, Mapping):
        # Data written without its kind (hand-made JSON): infer it from required keys.
        if "action" in value:
            return "privacy_request"
        if "type" in value:
            return "event"
        if "purpose" in value:
            return "consent"
        if "model" in value:
            return "score"
        if "account_id" in value:
            membership_only = {"role", "started_at", "ended_at"}
            return "membership" if membership_only & value.keys() else "account"
        return "person"
    return None


def _untag(value: Any) -> Any:
    return value.payload if isinstance(value, _Tagged) else value


def _tagged(model: type[BaseModel], kind: RecordKind) -> Any:
    # Tag goes last: it must label the outermost schema, the one that unwraps _Tagged.
    return Annotated[model, BeforeValidator(_untag), Tag(kind)]


RecordData = Annotated[
    _tagged(Person, "person")
    | _tagged(Account, "account")
    | _tagged(Membership, "membership")
    | _tagged(Consent, "consent")
    | _tagged(Event, "event")
    | _tagged(ScoredTrait, "score")
    | _tagged(PrivacyRequest, "privacy_request"),
    Discriminator(_data_kind),
]


class SourceRecord(_Frozen):
    """One record read from a source.

    :param stream: the stream it came from (``customers``, ``orders``).
    :param record_id: the source's own id for it, used for idempotent replays.
    :param identifiers: every identifier the record carries; co-occurrence is identity evidence.
    :param data: exactly one schema object.

    Serialized records carry their ``kind`` next to ``data``, so that a record read back
    from JSON gets the same schema class even where two classes share a shape (an account
    and a membership that only name ``account_id``).
    """

    stream: str
    record_id: str | None = None
    identifiers: tuple[Identifier, ...] = ()
    data: RecordData
    observed_at: datetime = Field(default_factory=utcnow)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def kind(self) -> RecordKind:
        """What ``data`` is: ``person``, ``account``, ``membership``, ``consent``, ``event``,
        ``score`` or ``privacy_request``."""
        kind = _data_kind(self.data)
        assert kind is not None  # data is always one of the schema classes
        return kind  # type: ignore[return-value]

    @classmethod
    def trusted(
        cls,
        stream: str,
        record_id: str | None,
        identifiers: tuple[Identifier, ...],
        data: RecordData,
        observed_at: datetime,
    ) -> SourceRecord:
        """A record of parts each validated already (a validated ``data`` object,
        :class:`Identifier` objects, an aware moment): what construction gives, without
        checking them again."""
        return trusted_model(
            cls,
            {
                "stream": stream,
                "record_id": record_id,
                "identifiers": identifiers,
                "data": data,
                "observed_at": observed_at,
            },
        )

    @model_validator(mode="before")
    @classmethod
    def _read_kind(cls, values: Any) -> Any:
        if not (isinstance(values, Mapping) and "kind" in values):
            return values
        values = dict(values)
        kind = str(values.pop("kind"))
        data = values.get("data")
        if isinstance(data, Mapping):
            values["data"] = _Tagged(kind, data)
        elif isinstance(data, BaseModel) and _data_kind(data) != kind:
            raise ValueError(f"kind {kind!r} does not match data of kind {_data_kind(data)!r}")
        return values


class StateCheckpoint(_Frozen):
    """A source's resumable position. The hub stores it in the same transaction as every
    record yielded before it, so a crash never skips or repeats a committed record."""

    stream: str
    state: dict[str, Any]


class RejectedRecord(_Frozen):
    """A record a source read but could not turn into the schema (a bad date, an invalid
    e-mail). Yielding it instead of skipping the row lets the hub keep it in quarantine with
    its reason, so nothing read is lost; it is committed with the next checkpoint.

    :param location: where it was read (``customers.csv:42``, an API cursor).
    :param field: the offending field (dotted) or ``(row)``.
    :param rule: the rule it broke, without the value.
    :param raw: the data as read, kept only in the hub's quarantine for replay; never logged.
    """

    stream: str
    location: str
    field: str
    rule: str
    raw: dict[str, Any] | None = None


class _Change(_Frozen):
    item_id: str = Field(description="hub-assigned id; the outcome for this item must carry it")
    contact_id: str | None = Field(default=None, description="the hub's central contact ID")
    identifiers: tuple[Identifier, ...] = ()


class UpsertPerson(_Change):
    """Create or update a person with these traits (latest wins).

    The hub sends the whole profile every time, not only what one record changed: the
    current traits (identifier traits such as ``email`` and ``phone`` in their normalized
    form), every model score and every consent decision.

    :param scores: score name to its current value (what most tools store as a property).
    :param score_details: score name to the whole score: value, model and ``computed_at``.
    :param consents: consent purpose (``email_marketing``) to whether it is granted.
    """

    kind: Literal["upsert_person"] = "upsert_person"
    person: Person
    scores: dict[str, Any] = Field(default_factory=dict)
    score_details: dict[str, ScoredTrait] = Field(default_factory=dict)
    consents: dict[str, bool] = Field(default_factory=dict)


class UpsertAccount(_Change):
    kind: Literal["upsert_account"] = "upsert_account"
    account: Account


class UpsertMembership(_Change):
    kind: Literal["upsert_membership"] = "upsert_membership"
    membership: Membership


class TrackEvent(_Change):
    kind: Literal["event"] = "event"
    event: Event


class AudienceEntered(_Change):
    kind: Literal["audience_entered"] = "audience_entered"
    audience: str


class AudienceExited(_Change):
    kind: Literal["audience_exited"] = "audience_exited"
    audience: str


class Forget(_Change):
    """Erase everything the destination holds about this person (GDPR/CCPA)."""

    kind: Literal["forget"] = "forget"


class MergeContacts(_Change):
    """Two contacts the destination holds are one person: keep ``contact_id``, fold in the other.

    Sent only to destinations that declare ``Capabilities.merges`` (a CRM's merge endpoint).
    Every other destination that received the absorbed contact gets the survivor upserted
    and a :class:`Forget` for the absorbed contact instead.

    :param absorbed_contact_id: the hub contact ID that no longer exists after the merge.
    :param absorbed_identifiers: the identifiers the destination may know the absorbed
        contact by (as they were when it was last sent).
    :param external_id: the destination's own id for the survivor, if it answered one.
    :param absorbed_external_id: the destination's own id for the absorbed contact, if any.
    """

    kind: Literal["merge"] = "merge"
    absorbed_contact_id: str
    absorbed_identifiers: tuple[Identifier, ...] = ()
    external_id: str | None = None
    absorbed_external_id: str | None = None


class ConsentChanged(_Change):
    """A person's consent for one purpose changed; the destination updates its subscription status.

    The one channel for subscription status (an e-mail tool's subscribe / unsubscribe, a
    CRM's opt-out): whatever the source of the change, destinations that keep a status and
    list ``consent`` in their record kinds receive it. The hub sends it regardless of the
    purpose gate: a denial must reach a tool that would otherwise send.
    """

    kind: Literal["consent"] = "consent"
    consent: Consent


Change = Annotated[
    UpsertPerson
    | UpsertAccount
    | UpsertMembership
    | TrackEvent
    | AudienceEntered
    | AudienceExited
    | Forget
    | MergeContacts
    | ConsentChanged,
    Field(discriminator="kind"),
]

ChangeKind = Literal[
    "upsert_person",
    "upsert_account",
    "upsert_membership",
    "event",
    "audience_entered",
    "audience_exited",
    "forget",
    "merge",
    "consent",
]


class Delivered(_Frozen):
    """The destination accepted the item; ``external_id`` is its id for the object, if any."""

    item_id: str
    status: Literal["delivered"] = "delivered"
    external_id: str | None = None


class RetryAfter(_Frozen):
    """Try this item again after ``seconds`` (throttling, a transient failure)."""

    item_id: str
    status: Literal["retry"] = "retry"
    seconds: float = Field(default=1.0, ge=0)
    reason: str = ""


class Rejected(_Frozen):
    """The destination will never accept this item as it is; dead-letter it with ``reason``."""

    item_id: str
    status: Literal["rejected"] = "rejected"
    reason: str


Outcome = Annotated[Delivered | RetryAfter | Rejected, Field(discriminator="status")]
