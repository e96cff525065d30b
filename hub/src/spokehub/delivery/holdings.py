"""Which destination holds which contact: noted as deliveries succeed.

The outbox may be pruned; this record is not. It is what an identity change needs to
know: when two profiles merge, every destination that holds the absorbed contact hears
about it (:mod:`spokehub.pipeline.identity_changes`), and when one splits, every
destination that holds it gets both parts.

- any delivered change about a contact (an upsert, an event, a membership, an audience
  change) notes the contact there, with the identifiers it was sent with (added to those
  noted before: the destination may know it by any of them) and the destination's own id
  from ``Delivered.external_id``, when it answers one;
- a delivered ``forget`` removes the contact: the destination no longer holds it;
- a delivered ``merge`` removes the absorbed contact and notes the survivor.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, delete, select

from spokehub.store.driver_sql import chunks, dialect_insert, utcnow
from spokehub.store.tables import destination_contacts
from spokehub_contracts import Change, Forget, MergeContacts

#: An identifier as the record keeps it: ``(type, value)``.
Key = tuple[str, str]


@dataclass(frozen=True)
class Held:
    """What a destination holds of one contact, as far as the hub knows."""

    destination: str
    contact_id: str
    external_id: str | None
    identifiers: tuple[Key, ...]


@dataclass(frozen=True)
class Delivery:
    """A delivered change, as the record needs it."""

    change: Change
    external_id: str | None


def note(
    conn: Connection,
    destination: str,
    delivered: Sequence[Delivery],
    now: datetime | None = None,
) -> None:
    """Note what ``delivered`` tells about the contacts ``destination`` holds, in the
    caller's transaction."""
    now = now or utcnow()
    gone: set[str] = set()
    kept: dict[str, tuple[set[Key], str | None]] = {}
    for d in delivered:
        change = d.change
        contact = change.contact_id
        if contact is None:
            continue
        keys = {(i.type, i.value) for i in change.identifiers}
        if isinstance(change, Forget):
            gone.add(contact)
            kept.pop(contact, None)
            continue
        external = d.external_id
        if isinstance(change, MergeContacts):
            gone.add(change.absorbed_contact_id)
            kept.pop(change.absorbed_contact_id, None)
            keys |= {(i.type, i.value) for i in change.absorbed_identifiers}
            external = external or change.external_id
        gone.discard(contact)
        before = kept.get(contact)
        if before is not None:
            keys |= before[0]
            external = external or before[1]
        kept[contact] = (keys, external)
    for part in chunks(sorted(gone)):
        conn.execute(
            delete(destination_contacts).where(
                destination_contacts.c.destination == destination,
                destination_contacts.c.contact_id.in_(part),
            )
        )
    if not kept:
        return
    known = {h.contact_id: h for h in held(conn, {destination: list(kept)})}
    rows = []
    for contact, (keys, external) in sorted(kept.items()):
        old = known.get(contact)
        if old is not None:
            keys |= set(old.identifiers)
            external = external or old.external_id
        rows.append(
            {
                "destination": destination,
                "contact_id": contact,
                "external_id": external[:512] if external else None,
                "identifiers": [list(k) for k in sorted(keys)],
                "first_delivered_at": now,
                "last_delivered_at": now,
            }
        )
    stmt = dialect_insert(conn, destination_contacts)
    new = stmt.excluded
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[destination_contacts.c.destination, destination_contacts.c.contact_id],
            set_={
                "external_id": new.external_id,
                "identifiers": new.identifiers,
                "last_delivered_at": new.last_delivered_at,
            },
        ),
        rows,
    )


def held(conn: Connection, wanted: Mapping[str, Iterable[str]]) -> list[Held]:
    """What each destination (key) holds of the given contact IDs (value)."""
    t = destination_contacts.c
    out: list[Held] = []
    for destination, contacts in wanted.items():
        for part in chunks(sorted(set(contacts))):
            query = select(destination_contacts).where(
                t.destination == destination, t.contact_id.in_(part)
            )
            out.extend(_held(r) for r in conn.execute(query))
    return out


def holders(conn: Connection, contact_ids: Iterable[str]) -> list[Held]:
    """Every destination's record of the given contacts, by destination and contact."""
    t = destination_contacts.c
    out: list[Held] = []
    for part in chunks(sorted(set(contact_ids))):
        query = (
            select(destination_contacts)
            .where(t.contact_id.in_(part))
            .order_by(t.destination, t.contact_id)
        )
        out.extend(_held(r) for r in conn.execute(query))
    return out


def _held(r: object) -> Held:
    m = r._mapping  # type: ignore[attr-defined]
    return Held(
        destination=m["destination"],
        contact_id=m["contact_id"],
        external_id=m["external_id"],
        identifiers=tuple((str(k[0]), str(k[1])) for k in m["identifiers"] or ()),
    )
