"""Applying one validated record to the identity and profile store, and the changes it
produces for destinations.

Only the identity and profile stores' public functions are used, inside the pipeline's
transaction: ``resolve_profiles`` for the batch's evidence, then per record ``apply_traits``,
``set_consent``, ``add_membership``/``end_membership``, ``set_scores``; an
``upsert_person`` carries the whole profile (:func:`.outgoing.complete`, once a batch), so
destinations can upsert latest-wins.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from spokehub_contracts import (
    Account,
    Consent,
    ConsentChanged,
    ConsentPurpose,
    Event,
    EventType,
    Identifier,
    Membership,
    Person,
    ScoredTrait,
    SourceRecord,
    TrackEvent,
    UpsertAccount,
    UpsertMembership,
)

from ..identity import IdentityRules
from ..identity.evidence import record_evidence
from ..identity.tables import identifiers as identifier_table
from ..profiles import (
    add_membership,
    apply_traits,
    end_membership,
    resolve_profiles,
    set_consent,
    set_scores,
    upsert_account,
)
from ..profiles.consent import decisions as consent_decisions
from ..profiles.tables import consents as consents_table
from ..store.driver_sql import cursor, utc
from .outgoing import PersonUpsert
from .records import (
    account_from_traits,
    identify_traits,
    person_from_traits,
    person_traits,
)

#: The columns of a timeline row (``events``), in the order of :attr:`Applied.event_row`.
EVENT_COLUMNS = (
    "contact_id",
    "connection",
    "message_id",
    "type",
    "event",
    "properties",
    "context",
    "timestamp",
    "received_at",
)

#: Event types that are stored on the timeline and routed as ``event`` changes.
TIMELINE_TYPES = frozenset({EventType.TRACK, EventType.PAGE, EventType.SCREEN})


@dataclass
class Applied:
    """What one record did: changes to route and a timeline row, if it is an event."""

    changes: list[Any] = field(default_factory=list)
    #: The timeline row, in :data:`EVENT_COLUMNS` order.
    event_row: tuple[Any, ...] | None = None


def resolve(
    conn: Connection,
    rules: IdentityRules,
    records: Sequence[tuple[str, str, SourceRecord]],
    consent_changed: dict[str, set[str]] | None = None,
) -> tuple[dict[str, str], dict[str, str]]:
    """Resolve ``(record_id, connection, record)`` triples to contact IDs, in order.

    Returns the contact ID of each record ID and the batch's merges, ``{absorbed contact
    ID: survivor}``. Records without identifiers get no contact ID (an account record, for
    instance). When profiles merge, the absorbed profiles' timeline rows move to the
    survivor in the same transaction, so a profile's events are always found under its
    live ID. ``consent_changed`` (when given) is filled with the survivors' consent
    purposes the merges changed (see :func:`merged_consents`).
    """
    evidence = [
        record_evidence(rules, record_id, connection, record)
        for record_id, connection, record in records
        if record.identifiers
    ]
    if not evidence:
        return {}, {}
    result = resolve_profiles(conn, rules, evidence, consent_changed)
    absorbed = result.absorbed()
    if absorbed:
        cursor(conn).many(
            "UPDATE events SET contact_id = ? WHERE contact_id = ?",
            [(new, old) for old, new in absorbed.items()],
        )
    contact_ids = {k: v for k, v in result.by_record(evidence).items() if v is not None}
    return contact_ids, absorbed


def apply_record(
    conn: Connection,
    rules: IdentityRules,
    item_prefix: str,
    connection: str,
    record: SourceRecord,
    contact_id: str | None,
    received_at: datetime,
    consent_categories: Mapping[str, ConsentPurpose] | None = None,
    routed: Container[str] | None = None,
) -> Applied:
    """Update the profile store with ``record`` and return what destinations must receive.

    :param item_prefix: unique per inbox row; item IDs are ``{item_prefix}:{n}``.
    :param consent_categories: Segment consent categories mapped to purposes; a Segment
        call's ``context.consent.categoryPreferences`` decides each mapped one.
    :param routed: the change kinds some destination takes from ``connection``
        (:meth:`.routing.Router.kinds_from`); a change of another kind is not built at
        all. ``None``: build every change.

    A consent decision that changes the profile's current state yields a
    :class:`ConsentChanged` for the destinations that keep a subscription status. An
    ``upsert_person`` is a :class:`~.outgoing.PersonUpsert`, completed at the end of the
    batch (:func:`.outgoing.complete`).
    """
    applied = Applied()
    data = record.data
    identifiers = tuple(record.identifiers)
    observed = record.observed_at

    def item_id() -> str:
        return f"{item_prefix}:{len(applied.changes)}"

    def upsert_person() -> None:
        if contact_id is None or (routed is not None and "upsert_person" not in routed):
            return
        applied.changes.append(PersonUpsert(item_id(), contact_id))

    def consent(decision: Consent, evidence: str | None, repeats: bool = True) -> None:
        if contact_id is None:
            return
        if set_consent(conn, contact_id, decision, evidence=evidence, repeats=repeats):
            applied.changes.append(
                ConsentChanged(
                    item_id=item_id(),
                    contact_id=contact_id,
                    identifiers=_identifiers_of(conn, contact_id) or identifiers,
                    consent=decision,
                )
            )

    if isinstance(data, Event):
        if consent_categories and contact_id is not None:
            said = segment_consents(data, consent_categories, connection, observed)
            # Every call carries the object: only a change of mind enters the ledger, and
            # one look at the profile's decisions finds it.
            held = consent_decisions(conn, contact_id) if said else {}
            for decision in said:
                if held.get(decision.purpose.value) != decision.granted:
                    consent(decision, data.message_id, repeats=False)
        _apply_event(
            conn,
            rules,
            applied,
            item_id,
            upsert_person,
            connection,
            record,
            data,
            contact_id,
            received_at,
            routed is None or "event" in routed,
        )
    elif isinstance(data, Person):
        if contact_id is not None:
            _apply_traits(conn, rules, contact_id, person_traits(data), connection, observed)
        upsert_person()
    elif isinstance(data, Account):
        _upsert_account(conn, data, connection, observed)
        applied.changes.append(UpsertAccount(item_id=item_id(), account=data))
    elif isinstance(data, Membership):
        if contact_id is not None:
            _membership(conn, contact_id, data, connection, observed)
            applied.changes.append(
                UpsertMembership(
                    item_id=item_id(),
                    contact_id=contact_id,
                    identifiers=identifiers,
                    membership=data,
                )
            )
    elif isinstance(data, Consent):
        consent(data, record.record_id)
    elif isinstance(data, ScoredTrait) and contact_id is not None:
        set_scores(conn, contact_id, [data])
        upsert_person()
    return applied


def merged_consents(
    conn: Connection, changed: Mapping[str, set[str]], item_prefix: str
) -> list[ConsentChanged]:
    """The consent changes a batch's merges made: for each survivor and purpose whose
    current decision the merge changed, that decision, for the tools that know the
    survivor by its own identifiers."""
    out: list[ConsentChanged] = []
    c = consents_table.c
    for survivor in sorted(changed):
        rows = conn.execute(
            select(c.purpose, c.granted, c.source, c.recorded_at).where(
                c.contact_id == survivor, c.purpose.in_(sorted(changed[survivor]))
            )
        ).all()
        identifiers = _identifiers_of(conn, survivor)
        for purpose, granted, source, recorded_at in sorted(rows):
            out.append(
                ConsentChanged(
                    item_id=f"{item_prefix}:{len(out)}",
                    contact_id=survivor,
                    identifiers=identifiers,
                    consent=Consent(
                        purpose=purpose,
                        granted=bool(granted),
                        source=source,
                        recorded_at=utc(recorded_at),
                    ),
                )
            )
    return out


def segment_consents(
    event: Event,
    categories: Mapping[str, ConsentPurpose],
    connection: str,
    observed: datetime,
) -> list[Consent]:
    """The decisions a Segment call's ``context.consent.categoryPreferences`` makes about
    the mapped ``categories``: true grants; false, absent or not a boolean denies (an
    empty object denies every mapped category, as Segment reads it). A call without the
    object decides nothing."""
    block = event.context.get("consent")
    prefs = block.get("categoryPreferences") if isinstance(block, dict) else None
    if not isinstance(prefs, dict):
        return []
    decided: dict[ConsentPurpose, bool] = {}
    for category, purpose in categories.items():
        granted = prefs.get(category) is True
        # Two categories on one purpose: a denial of either denies it.
        decided[purpose] = decided.get(purpose, True) and granted
    return [
        Consent(purpose=purpose, granted=granted, source=connection, recorded_at=observed)
        for purpose, granted in decided.items()
    ]


def _identifiers_of(conn: Connection, contact_id: str) -> tuple[Identifier, ...]:
    """Every identifier of the profile, so that a tool finds the person whichever one it
    keys on (a consent decision may arrive with a tool's own id alone)."""
    i = identifier_table.c
    rows = conn.execute(
        select(i.type, i.value).where(i.contact_id == contact_id).order_by(i.type, i.id)
    )
    # Stored values are normalized already.
    return tuple(Identifier.model_construct(type=t, value=v) for t, v in rows)


def _apply_event(
    conn: Connection,
    rules: IdentityRules,
    applied: Applied,
    item_id: Callable[[], str],
    upsert_person: Callable[[], None],
    connection: str,
    record: SourceRecord,
    event: Event,
    contact_id: str | None,
    received_at: datetime,
    routed: bool = True,
) -> None:
    observed = record.observed_at
    if event.type is EventType.IDENTIFY:
        traits = identify_traits(event)
        if contact_id is not None and traits:
            person = person_from_traits(traits)
            _apply_traits(conn, rules, contact_id, person_traits(person), connection, observed)
        upsert_person()
    elif event.type is EventType.GROUP and event.group_id:
        account = account_from_traits(event.group_id, event.traits)
        _upsert_account(conn, account, connection, observed)
        applied.changes.append(UpsertAccount(item_id=item_id(), account=account))
        if contact_id is not None:
            membership = Membership(account_id=event.group_id, started_at=observed)
            _membership(conn, contact_id, membership, connection, observed)
            applied.changes.append(
                UpsertMembership(
                    item_id=item_id(),
                    contact_id=contact_id,
                    identifiers=tuple(record.identifiers),
                    membership=membership,
                )
            )
    elif event.type in TIMELINE_TYPES and routed:
        # The event and its identifiers are validated already.
        applied.changes.append(
            TrackEvent.model_construct(
                item_id=item_id(),
                contact_id=contact_id,
                identifiers=tuple(record.identifiers),
                event=event,
            )
        )
    if contact_id is not None:
        applied.event_row = (
            contact_id,
            connection,
            event.message_id,
            event.type.value,
            event.event or event.name,
            event.properties,
            event.context,
            observed,
            received_at,
        )


def _apply_traits(
    conn: Connection,
    rules: IdentityRules,
    contact_id: str,
    values: dict[str, Any],
    connection: str,
    observed: datetime,
) -> None:
    # The changes are not reported: the record's upsert carries the whole profile.
    apply_traits(
        conn,
        contact_id,
        values,
        connection=connection,
        observed_at=observed,
        rules=rules,
        report=False,
    )


def _upsert_account(
    conn: Connection, account: Account, connection: str, observed: datetime
) -> None:
    upsert_account(conn, account)


def _membership(
    conn: Connection, contact_id: str, membership: Membership, connection: str, observed: datetime
) -> None:
    if membership.ended_at is not None:
        end_membership(conn, contact_id, membership.account_id, membership.ended_at)
    else:
        add_membership(conn, contact_id, membership, connection=connection)
