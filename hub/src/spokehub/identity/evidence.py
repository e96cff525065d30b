"""What resolution takes in: the identifiers one record carried (:class:`Evidence`), and how
a record's evidence is read (:func:`record_evidence`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from spokehub_contracts import Event, EventType, Identifier

if TYPE_CHECKING:
    from spokehub_contracts import SourceRecord

    from .rules import IdentityRules

#: An identifier as resolution handles it: ``(type, normalized value)``.
Key = tuple[str, str]


class IdentifierLike(Protocol):
    """Anything with a type and an already-normalized value (``spokehub_contracts.Identifier``)."""

    @property
    def type(self) -> str: ...

    @property
    def value(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record's identifiers, as seen by resolution.

    ``identifiers`` must already be normalized (``Identifier`` does so on construction);
    ``observed_at`` should be timezone-aware (naive values are taken as UTC). ``asserted``:
    the sender stated that the identifiers are one person (an ``alias`` call), so the
    per-type limits do not apply to this record's links.
    """

    record_id: str
    connection: str
    observed_at: datetime
    identifiers: Sequence[IdentifierLike]
    asserted: bool = False


def record_evidence(
    rules: IdentityRules, record_id: str, connection: str, record: SourceRecord
) -> Evidence:
    """What ``record`` tells resolution, under ``rules``: its identifiers, and for an
    ``alias`` call its ``previousId`` as :class:`~.rules.AliasPolicy` says."""
    identifiers: Sequence[IdentifierLike] = tuple(record.identifiers)
    data = record.data
    asserted = False
    if isinstance(data, Event) and data.type is EventType.ALIAS and data.previous_id:
        identifiers, asserted = _alias(rules, data, identifiers)
    return Evidence(record_id, connection, record.observed_at, identifiers, asserted)


def _alias(
    rules: IdentityRules, event: Event, identifiers: Sequence[IdentifierLike]
) -> tuple[Sequence[IdentifierLike], bool]:
    policy = rules.alias
    previous = str(event.previous_id).strip()
    if not previous:
        return identifiers, False
    # The message's own identifiers type previousId as a user ID; it is re-typed here.
    if event.user_id is not None and str(event.user_id).strip() == previous:
        return identifiers, False  # an alias to itself states nothing
    rest = [i for i in identifiers if not (i.type == "user_id" and i.value == previous)]
    if not policy.merge:
        return rest, False
    anonymous = event.anonymous_id
    if anonymous is None or str(anonymous).strip() != previous:
        rest.append(Identifier(type=policy.previous_id, value=previous))
    return rest, True
