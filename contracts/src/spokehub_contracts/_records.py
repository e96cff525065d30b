"""What flows across the spoke boundary.

Sources yield :class:`SourceRecord` objects (identifiers plus one schema object) and
:class:`StateCheckpoint` objects (where to resume). Destinations receive a batch of
:class:`Change` items and answer one :class:`Outcome` per item, in any order, keyed by
``item_id``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ._schema import Account, Consent, Event, Identifier, Membership, Person, ScoredTrait, utcnow


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class SourceRecord(_Frozen):
    """One record read from a source.

    :param stream: the stream it came from (``customers``, ``orders``).
    :param record_id: the source's own id for it, used for idempotent replays.
    :param identifiers: every identifier the record carries; co-occurrence is identity evidence.
    :param data: exactly one schema object.
    """

    stream: str
    record_id: str | None = None
    identifiers: tuple[Identifier, ...] = ()
    data: Person | Account | Membership | Consent | Event | ScoredTrait
    observed_at: datetime = Field(default_factory=utcnow)

    @property
    def kind(self) -> str:
        return _KIND_OF[type(self.data)]


_KIND_OF: dict[type, str] = {
    Person: "person",
    Account: "account",
    Membership: "membership",
    Consent: "consent",
    Event: "event",
    ScoredTrait: "score",
}


class StateCheckpoint(_Frozen):
    """A source's resumable position. The hub stores it in the same transaction as every
    record yielded before it, so a crash never skips or repeats a committed record."""

    stream: str
    state: dict[str, Any]


class _Change(_Frozen):
    item_id: str = Field(description="hub-assigned id; the outcome for this item must carry it")
    contact_id: str | None = Field(default=None, description="the hub's central contact ID")
    identifiers: tuple[Identifier, ...] = ()


class UpsertPerson(_Change):
    """Create or update a person with these traits (latest wins)."""

    kind: Literal["upsert_person"] = "upsert_person"
    person: Person
    scores: dict[str, Any] = Field(default_factory=dict)


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


Change = Annotated[
    UpsertPerson
    | UpsertAccount
    | UpsertMembership
    | TrackEvent
    | AudienceEntered
    | AudienceExited
    | Forget,
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
