"""What resolution and unmerge answer: the records' contact IDs, the profiles created,
merged and split, and the links the rules refused."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from .evidence import Evidence


@dataclass(frozen=True, slots=True)
class ProfileChange:
    """A change to the set of profiles, for the pipeline to route to destinations.

    ``created``: ``contact_id`` is new. ``merged``: ``contact_id`` is the survivor and
    ``others`` the absorbed IDs, which now redirect to it. ``split``: ``contact_id`` kept
    part of the profile and ``others`` are the new IDs of the parts split off.
    """

    kind: Literal["created", "merged", "split"]
    contact_id: str
    others: tuple[str, ...] = ()
    record_id: str | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """A link a rule refused: ``record_id`` carried an identifier of ``identifier_type``
    (now in profile ``other``) that was not joined to the record's profile ``contact_id``."""

    record_id: str
    rule: str
    identifier_type: str
    contact_id: str
    other: str


@dataclass(slots=True)
class ResolveResult:
    """What a batch resolved to.

    ``contact_ids[i]`` is the live contact ID of ``records[i]`` (``None`` when the record
    carried no usable identifier); ``changes`` lists created and merged profiles;
    ``decisions`` the links rules refused; ``ignored`` counts blocked identifiers.
    """

    contact_ids: list[str | None]
    changes: list[ProfileChange] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    ignored: int = 0

    def by_record(self, records: Sequence[Evidence]) -> dict[str, str | None]:
        """``record_id -> contact_id`` for the ``records`` this result answers."""
        return {r.record_id: c for r, c in zip(records, self.contact_ids, strict=True)}

    def absorbed(self) -> dict[str, str]:
        """``absorbed contact ID -> its survivor`` for every merge of the batch."""
        return {
            other: change.contact_id
            for change in self.changes
            if change.kind == "merged"
            for other in change.others
        }
