"""Running the registered enrichers on the profiles a record changes.

Each record that changes a profile (a person record or an identify call, a group call, a
consent, a membership, a score, and a track event one enricher names in its ``events``)
is followed, in the pipeline's transaction, by every enricher it concerns. An enricher
sees the profile's current traits and identifiers, and the history of the events it
names; the scores it returns are stored with their ``model`` and ``computed_at`` as
provenance, only where the value changed, and the profile's upsert then carries them (one
is added when the record made none). An enricher that fails quarantines that record
alone, naming the enricher.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, select

from spokehub_contracts import (
    Consent,
    Enricher,
    Event,
    EventType,
    Membership,
    Person,
    ScoredTrait,
    SourceRecord,
)

from ..identity import IdentityRules
from ..profiles import resolved_traits, set_scores
from ..profiles.tables import scores
from ..registry import Registry
from ..store.driver_sql import utc
from ..store.tables import events as events_table
from .outgoing import PersonUpsert, profile_identifiers
from .profiles import Applied
from .violations import RecordRejected

#: Kinds of record data that change a profile without being an event.
_PROFILE_DATA = (Person, Consent, Membership, ScoredTrait)
#: Calls that change a profile's traits or memberships.
_PROFILE_CALLS = frozenset({EventType.IDENTIFY, EventType.GROUP})


class Enrichment:
    """The registry's enrichers, in name order, ready to run after each record."""

    def __init__(self, registry: Registry) -> None:
        self.enrichers: list[tuple[str, Enricher]] = [
            (name, reg.cls()) for name, reg in sorted(registry.enrichers.items())
        ]

    def __bool__(self) -> bool:
        return bool(self.enrichers)

    def concerned(self, record: SourceRecord) -> list[tuple[str, Enricher]]:
        """The enrichers ``record`` calls for."""
        data = record.data
        if isinstance(data, _PROFILE_DATA):
            return self.enrichers
        if isinstance(data, Event):
            if data.type in _PROFILE_CALLS:
                return self.enrichers
            name = data.event
            return [(n, e) for n, e in self.enrichers if name is not None and name in e.events]
        return []

    def after(
        self,
        conn: Connection,
        rules: IdentityRules,
        contact_id: str,
        record: SourceRecord,
        applied: Applied,
        item_prefix: str,
        pending: Sequence[tuple[Any, ...]],
    ) -> None:
        """Run the enrichers ``record`` calls for on ``contact_id`` and make ``applied``
        carry the profile's upsert if a score changed.

        :param pending: timeline rows of the batch not written yet, in
            :data:`~.profiles.EVENT_COLUMNS` order (this record's is ``applied.event_row``).
        :raises RecordRejected: stage ``enrich``, when an enricher fails.
        """
        concerned = self.concerned(record)
        if not concerned:
            return
        traits = {n: t.value for n, t in resolved_traits(conn, contact_id, rules).items()}
        identifiers = profile_identifiers(conn, contact_id)
        s = scores.c
        current = dict(
            conn.execute(select(s.name, s.value).where(s.contact_id == contact_id)).all()
        )
        changed: dict[str, ScoredTrait] = {}
        for name, enricher in concerned:
            try:
                if enricher.events:
                    own = [applied.event_row] if applied.event_row is not None else []
                    history = _history(conn, contact_id, enricher.events, [*pending, *own])
                    found = enricher.enrich(contact_id, traits, identifiers, events=history)
                else:
                    found = enricher.enrich(contact_id, traits, identifiers)
                found = [ScoredTrait.model_validate(score) for score in found]
            except Exception as exc:
                raise RecordRejected(
                    "enrich", "(record)", f"enricher {name!r} failed: {type(exc).__name__}"
                ) from None
            for score in found:
                if score.name not in current or current[score.name] != score.value:
                    changed[score.name] = score
        if not changed:
            return
        set_scores(conn, contact_id, list(changed.values()))
        # The record's upsert (completed at the end of the batch) carries the new scores;
        # a record that made none makes one now.
        if not any(
            isinstance(change, PersonUpsert) and change.contact_id == contact_id
            for change in applied.changes
        ):
            item_id = f"{item_prefix}:{len(applied.changes)}"
            applied.changes.append(PersonUpsert(item_id, contact_id))


def _history(
    conn: Connection,
    contact_id: str,
    names: Sequence[str],
    pending: Sequence[tuple[Any, ...]],
) -> list[Event]:
    """The profile's track events of ``names``, oldest first: those on the timeline and
    those of the batch not written yet. They carry what the timeline keeps (name,
    properties, context, time, message id), not the identity fields of the call."""
    e = events_table.c
    query = (
        select(e.message_id, e.event, e.properties, e.context, e.timestamp)
        .where(e.contact_id == contact_id, e.type == "track", e.event.in_(sorted(set(names))))
        .order_by(e.timestamp, e.id)
    )
    rows = [(mid, name, props, ctx, utc(ts)) for mid, name, props, ctx, ts in conn.execute(query)]
    seen = {r[0] for r in rows if r[0]}
    for c, _source, mid, kind, name, props, ctx, ts, _received in pending:
        if c == contact_id and kind == "track" and name in names and (not mid or mid not in seen):
            rows.append((mid, name, props, ctx, utc(ts)))
    rows.sort(key=lambda r: r[4])
    # Built without validation: these were validated on their way in, and the timeline
    # keeps no user or anonymous ID for the spec's identity rule to see.
    return [
        Event.model_construct(
            type=EventType.TRACK,
            event=name,
            properties=props or {},
            context=ctx or {},
            timestamp=ts,
            message_id=mid,
        )
        for mid, name, props, ctx, ts in rows
    ]
