"""Hub extensions that are not connectors: transforms, enrichers and matchers.

They run inside the pipeline on plain data, so their methods are synchronous and pure
where possible; an exception raised for one record quarantines that record only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ._records import SourceRecord
from ._schema import Event, Identifier, ScoredTrait


class Transform:
    """Rewrites a record on its way in (rename a field, drop a test event, derive a trait).

    ``apply`` returns the record to keep (changed or not) or ``None`` to drop it; a dropped
    record is counted, never silently lost.
    """

    name: ClassVar[str]

    def apply(self, record: SourceRecord) -> SourceRecord | None:
        raise NotImplementedError(f"{type(self).__name__} must implement apply(record)")


class Enricher:
    """Adds computed traits or model scores to a profile (churn risk, recommendations,
    lifetime value).

    The hub calls ``enrich`` in the pipeline's transaction each time a record changes a
    profile: a person record or an identify call, a consent or a membership, and a track
    event whose name is in :attr:`events`. It sees the profile's current traits and
    identifiers and returns the scores to set; each is stored with its ``model`` and
    ``computed_at`` as its provenance, and goes out with the profile's next upsert. A
    score whose value did not change is not written again.

    :attr events: track event names whose history the enricher reads
        (``("Order Completed",)``). When it names any, ``enrich`` is also called for
        those events, and receives the profile's events of those names, oldest first, as
        ``events`` (the one being processed included). An enricher that names none is
        called without ``events``.

    .. versionchanged:: 0.2 ``events``.
    """

    name: ClassVar[str]
    events: ClassVar[tuple[str, ...]] = ()

    def enrich(
        self,
        contact_id: str,
        traits: Mapping[str, Any],
        identifiers: Sequence[Identifier],
        events: Sequence[Event] = (),
    ) -> Sequence[ScoredTrait]:
        raise NotImplementedError(f"{type(self).__name__} must implement enrich(...)")


class Matcher:
    """Proposes extra identity evidence (fuzzy name + address, household keys).

    ``match`` returns identifiers that should be treated as carried by the record too. The
    hub's identity rules (limits, blocked values) still apply to them.
    """

    name: ClassVar[str]

    def match(self, record: SourceRecord) -> Sequence[Identifier]:
        raise NotImplementedError(f"{type(self).__name__} must implement match(record)")
