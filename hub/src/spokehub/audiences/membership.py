"""Recording audience membership and telling the audience's destinations.

A decision (this profile is, or is not, in this audience now) that differs from the
stored membership is a transition: the row is written (entered or exited, with the time)
and one ``audience_entered`` or ``audience_exited`` change per destination of the
audience goes into the outbox, in the caller's transaction. A decision that matches what
is stored writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from spokehub.store.driver_sql import CHUNK, chunks, cursor, marks, utcnow
from spokehub_contracts import AudienceEntered, AudienceExited

from .definitions import Audience
from .facts import identifiers_of


@dataclass(frozen=True, slots=True)
class Transition:
    audience: str
    contact_id: str
    entered: bool


def current_members(
    conn: Connection, contact_ids: Iterable[str], audiences: Iterable[str] | None = None
) -> set[tuple[str, str]]:
    """``(audience, contact_id)`` of the open memberships among these profiles."""
    cur = cursor(conn)
    wanted = None if audiences is None else sorted(set(audiences))
    found: set[tuple[str, str]] = set()
    for part in chunks(sorted(set(contact_ids)), CHUNK):
        text = (
            "SELECT audience, contact_id FROM audience_members"
            f" WHERE contact_id IN ({marks(len(part))}) AND exited_at IS NULL"
        )
        if wanted is not None:
            text += f" AND audience IN ({marks(len(wanted))})"
        found.update((a, c) for a, c in cur.rows(text, (*part, *(wanted or ()))))
    return found


def transitions(
    decisions: Mapping[tuple[str, str], bool], members: set[tuple[str, str]]
) -> list[Transition]:
    """The decisions that differ from the stored membership, in a stable order."""
    return [
        Transition(audience, contact, inside)
        for (audience, contact), inside in sorted(decisions.items())
        if inside != ((audience, contact) in members)
    ]


def record(
    conn: Connection,
    moves: Sequence[Transition],
    audiences: Mapping[str, Audience],
    now: datetime,
) -> int:
    """Write ``moves`` to the membership table and their changes to the outbox; returns
    how many outbox rows were written. ``now`` is the activation clock's time, kept on
    the membership; the outbox rows are due at once."""
    if not moves:
        return 0
    cur = cursor(conn)
    stamp = cur.driver.stamp
    at = stamp(now)
    entered = [(t.audience, t.contact_id, at) for t in moves if t.entered]
    exited = [(at, t.audience, t.contact_id) for t in moves if not t.entered]
    cur.insert(
        "audience_members",
        ("audience", "contact_id", "entered_at"),
        entered,
        row="(?, ?, ?)",
        conflict=("audience", "contact_id"),
        update=("entered_at", "exited_at = NULL"),
    )
    cur.many(
        "UPDATE audience_members SET exited_at = ?"
        " WHERE audience = ? AND contact_id = ? AND exited_at IS NULL",
        exited,
    )
    targeted = [t for t in moves if audiences[t.audience].to]
    if not targeted:
        return 0
    ids = identifiers_of(conn, sorted({t.contact_id for t in targeted}))
    tick = int(now.timestamp() * 1_000_000)
    rows: list[tuple[Any, ...]] = []
    for t in targeted:
        audience = audiences[t.audience]
        item_id = f"audience:{t.audience}:{t.contact_id}:{tick}:{'in' if t.entered else 'out'}"
        change = (AudienceEntered if t.entered else AudienceExited)(
            item_id=item_id,
            contact_id=t.contact_id,
            identifiers=ids.get(t.contact_id, ()),
            audience=t.audience,
        )
        # An exit is never held back by consent: it takes the person out.
        purpose = audience.purpose.value if t.entered and audience.purpose else None
        item = change.model_dump_json()
        for destination in audience.to:
            rows.append(
                (destination, f"audience:{t.audience}", t.contact_id, change.kind, purpose, item)
            )
    write_outbox(conn, rows)
    return len(rows)


def write_outbox(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    """Outbox rows ``(destination, route, contact_id, kind, purpose, item)``, due now.

    Due by the wall clock, never the activation clock: the delivery lanes run on the
    wall clock, and a moved demo clock must not hold sends back.
    """
    if not rows:
        return
    cur = cursor(conn)
    at = cur.driver.stamp(utcnow())
    cur.insert(
        "outbox",
        (
            "destination",
            "route",
            "contact_id",
            "kind",
            "purpose",
            "item",
            "created_at",
            "due_at",
            "status",
        ),
        [(*r, at, at) for r in rows],
        row="(?, ?, ?, ?, ?, ?, ?, ?, 'pending')",
    )


def adopt(conn: Connection, merged: Sequence[tuple[str, str, str]], now: datetime) -> None:
    """Hand ``(audience, absorbed contact, survivor)`` memberships to the survivor.

    The absorbed profile's identifiers are the survivor's now: the destination hears
    about the person once, through the survivor's next decision, never an exit that
    would take the survivor out with them. Nothing goes to the outbox here.
    """
    if not merged:
        return
    cur = cursor(conn)
    at = cur.driver.stamp(now)
    cur.many(
        "UPDATE audience_members SET exited_at = ? WHERE audience = ? AND contact_id = ?",
        [(at, a, c) for a, c, _ in merged],
    )
    cur.insert(
        "audience_members",
        ("audience", "contact_id", "entered_at"),
        sorted({(a, s, at) for a, _, s in merged}),
        conflict=("audience", "contact_id"),
        update=("exited_at = NULL",),
    )


def open_memberships_of(
    conn: Connection, absorbed: Mapping[str, str]
) -> list[tuple[str, str, str]]:
    """``(audience, absorbed contact, survivor)`` for the open memberships of ``absorbed``
    (``{absorbed contact: survivor}``)."""
    found = current_members(conn, absorbed)
    return sorted((a, c, absorbed[c]) for a, c in found)
