"""The pipeline's one hook into audiences and journeys.

The worker calls :meth:`ActivationHook.after_batch` once per batch, in the batch's
transaction, after the profiles, timelines and outbox rows are written: it names what
each record touched, decides again only the audiences that can depend on it, starts the
journeys its events trigger and cancels the timers whose condition broke. Everything it
sends goes into the outbox in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from spokehub_contracts import (
    Consent,
    Event,
    EventType,
    Membership,
    Person,
    ScoredTrait,
    SourceRecord,
)

from ..activation import Activation
from ..audiences.incremental import update_members
from ..audiences.index import Touched
from ..audiences.membership import adopt, open_memberships_of
from ..journeys.timers import Trigger, cancel_broken, schedule
from .records import identify_traits, person_from_traits, person_traits


@dataclass
class BatchActivation:
    """What a batch's hook did."""

    outbox: int = 0
    scheduled: int = 0
    cancelled: int = 0


class ActivationHook:
    """Audiences and journeys as the pipeline sees them."""

    def __init__(self, activation: Activation) -> None:
        self.activation = activation

    def after_batch(
        self,
        conn: Connection,
        applied: Sequence[tuple[str, SourceRecord]],
        merged: Mapping[str, str] | None = None,
    ) -> BatchActivation:
        """React to a batch's applied ``(contact_id, record)`` pairs and its merges
        (``{absorbed contact: survivor}``), in its transaction."""
        done = BatchActivation()
        a = self.activation
        if not a or not (applied or merged):
            return done
        now = a.clock.now()
        touched: dict[str, Touched] = {}
        triggers: list[Trigger] = []
        for contact_id, record in applied:
            t = touched.setdefault(contact_id, Touched())
            t.add(_touched_by(record))
            data = record.data
            if isinstance(data, Event) and data.type is EventType.TRACK and data.event:
                for journey in a.journeys.by_trigger.get(data.event, ()):
                    triggers.append(Trigger(journey, contact_id, data.properties))
        if merged:
            # A survivor holds facts it did not hold before: everything is decided
            # again for it, and it takes the absorbed profiles' memberships over.
            for survivor in merged.values():
                touched.setdefault(survivor, Touched()).everything = True
            if a.audiences:
                adopt(conn, open_memberships_of(conn, merged), now)
        if a.journeys:
            done.cancelled = cancel_broken(conn, a.journeys, a.rules, touched, now)
            done.scheduled = schedule(conn, a.journeys, a.rules, triggers, now)
        if a.audiences:
            done.outbox = update_members(conn, a.audiences, a.rules, touched, now)
        return done


def _touched_by(record: SourceRecord) -> Touched:
    data = record.data
    if isinstance(data, Event):
        if data.type is EventType.TRACK and data.event:
            return Touched(events={data.event})
        if data.type is EventType.IDENTIFY:
            traits = identify_traits(data)
            return (
                Touched(traits=set(person_traits(person_from_traits(traits))))
                if traits
                else Touched()
            )
        if data.type is EventType.GROUP:
            return Touched(accounts=True)
        return Touched()
    if isinstance(data, Person):
        return Touched(traits=set(person_traits(data)))
    if isinstance(data, Consent):
        return Touched(consents={data.purpose.value})
    if isinstance(data, ScoredTrait):
        return Touched(scores={data.name})
    if isinstance(data, Membership):
        return Touched(accounts=True)
    return Touched()
