"""Vendor ids back into the hub, through the inbox like every other record.

A destination that declares ``Capabilities.external_id_type`` answers each delivered
``upsert_person`` with its own id for the person (HubSpot's contact id). The lane turns
that answer into a record, the vendor id beside the identifiers the change named the
person by, and stores it in the inbox under the destination's connection name, in the
transaction that records the outcome. The pipeline then resolves it like any record: the
contact gains the identifier (``hubspot:contact_id``), and the profile change it causes
goes to every other destination, never back to the one that answered it (routing sends
no change to the connection its record came from).

An id the identity store already holds for that contact writes nothing, so a tool that
answers the same id on every upsert does not set off a profile change each time.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection

from spokehub_contracts import Identifier, Person, SourceRecord, UpsertPerson

from ..identity.lookup import live_contact_id, lookup_many
from ..ingest import Accepted, record_message_id, write_messages_in

#: The stream write-back records carry, so a profile's provenance says where an id came from.
STREAM = "external_ids"
#: A repeat of one write-back within this window is stored once (the identity check
#: catches the rest once the pipeline has taken the first).
DEDUP_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class WriteBack:
    """A vendor id for hub contact ``contact_id``, as a record for the inbox."""

    contact_id: str
    record: SourceRecord


def write_back(change: UpsertPerson, external_id: str, id_type: str) -> WriteBack | None:
    """The record of ``external_id`` for the person ``change`` upserted, or None when it
    cannot be tied to the person (no contact ID, no identifier, an id the type refuses)."""
    if change.contact_id is None:
        return None
    known = list(change.identifiers)
    if change.person.email:
        with contextlib.suppress(ValueError):  # a trait the e-mail rule refuses names no one
            known.append(Identifier(type="email", value=change.person.email))
    if not known:
        return None
    try:
        vendor = Identifier(type=id_type, value=external_id)
    except ValueError:
        return None
    record = SourceRecord(stream=STREAM, identifiers=(vendor, *dict.fromkeys(known)), data=Person())
    return WriteBack(change.contact_id, record)


def write_backs_in(conn: Connection, connection: str, found: Sequence[WriteBack]) -> int:
    """Store the write-backs the identity store does not already hold, inside the caller's
    transaction; returns how many were stored."""
    if not found:
        return 0
    keys = {(w.record.identifiers[0].type, w.record.identifiers[0].value) for w in found}
    holders = lookup_many(conn, keys)
    fresh = []
    for w in found:
        vendor = w.record.identifiers[0]
        holder = holders.get((vendor.type, vendor.value))
        if holder is not None and holder == live_contact_id(conn, w.contact_id):
            continue
        fresh.append(w.record)
    if not fresh:
        return 0
    messages = [
        Accepted(record_message_id(r), None, r.model_dump_json().encode("utf-8")) for r in fresh
    ]
    return write_messages_in(
        conn, connection, messages, dedup_window=DEDUP_SECONDS, kind="record"
    ).stored
