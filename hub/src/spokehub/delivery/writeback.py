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
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from spokehub_contracts import UpsertPerson, ValidationFailed, normalize_email

from ..identity.lookup import live_contact_id, lookup_many
from ..ingest import Accepted, write_messages_in
from ..ingest.keys import digest

#: The stream write-back records carry, so a profile's provenance says where an id came from.
STREAM = "external_ids"
#: A repeat of one write-back within this window is stored once (the identity check
#: catches the rest once the pipeline has taken the first).
DEDUP_SECONDS = 24 * 3600.0


@dataclass(frozen=True)
class WriteBack:
    """A vendor id for hub contact ``contact_id``, as an inbox row of kind ``record``.

    :ivar vendor: the vendor id as an identifier key, ``(type, value)``.
    :ivar message: the row: its ``messageId`` (stream and a digest of the content, as a
        pulled record's) and its body, a :class:`~spokehub_contracts.SourceRecord`.
    """

    contact_id: str
    vendor: tuple[str, str]
    message: Accepted


def write_back(
    change: UpsertPerson, external_id: str, id_type: str, observed_at: datetime
) -> WriteBack | None:
    """The record of ``external_id`` for the person ``change`` upserted, or None when it
    cannot be tied to the person (no contact ID, no identifier, an empty id).

    Built as JSON directly, not as a model: a lane writes one per delivered person, at the
    vendor's full rate, and the pipeline validates the record like any other. The
    change's identifiers are normalized already; the person's e-mail trait is too (an
    upsert carries identifier traits normalized), and is checked once more only when no
    e-mail identifier names the person.
    """
    value = external_id.strip()
    if change.contact_id is None or not value:
        return None
    known = [(i.type, i.value) for i in change.identifiers]
    if change.person.email and not any(t == "email" for t, _ in known):
        with contextlib.suppress(ValidationFailed):  # a trait the rule refuses names no one
            known.append(("email", normalize_email(change.person.email)))
    if not known:
        return None
    pairs = [(id_type, value), *dict.fromkeys(known)]
    record: dict[str, Any] = {
        "stream": STREAM,
        "identifiers": [{"type": t, "value": v} for t, v in pairs],
        "kind": "person",
        "data": {},
    }
    # Keyed by content, as a pulled record is: the same id for the same person again
    # within the window is one row.
    message_id = f"{STREAM}:{digest(orjson.dumps(record).decode())}"
    record["observed_at"] = observed_at
    message = Accepted(message_id, None, orjson.dumps(record))
    return WriteBack(change.contact_id, (id_type, value), message)


def write_backs_in(conn: Connection, connection: str, found: Sequence[WriteBack]) -> int:
    """Store the write-backs the identity store does not already hold, inside the caller's
    transaction; returns how many were stored."""
    if not found:
        return 0
    holders = lookup_many(conn, {w.vendor for w in found})
    messages = []
    for w in found:
        holder = holders.get(w.vendor)
        if holder is not None and holder == live_contact_id(conn, w.contact_id):
            continue
        messages.append(w.message)
    if not messages:
        return 0
    return write_messages_in(
        conn, connection, messages, dedup_window=DEDUP_SECONDS, kind="record"
    ).stored
