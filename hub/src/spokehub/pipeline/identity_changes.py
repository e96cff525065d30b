"""Identity changes as outbox rows: the tools that hold a contact hear about merges and
splits.

A merge absorbs one contact into another. Every destination that holds the absorbed
contact (:mod:`spokehub.delivery.holdings`, or that still has a change about it waiting
in the outbox) gets, in this order:

- a ``merge`` change when its spoke declares ``Capabilities.merges`` (a CRM's merge
  endpoint keeps the record's history and the vendor's own links);
- otherwise a ``forget`` of the absorbed contact, naming the identifiers the destination
  was sent for it that it was not sent for the survivor (an identifier both share would
  make the tool erase the survivor too); left out where the spoke can delete neither by
  change nor by ``forget()``, and where no route carries person upserts there (a tool
  that only receives events would lose the absorbed contact's history with nobody to
  hold it: it keeps it, as a Segment destination does);
- and the survivor's whole profile upserted (where a route carries person upserts there),
  so the tool holds the merged person.

A split (``unmerge``) re-upserts every part to each destination that holds the profile
that was split: the part that keeps the contact ID and each part split off, with its own
identifiers.

These rows are written in the transaction that made the identity change, before the
batch's own changes, so a tool hears of the merge before anything about the survivor
that depends on it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select

from spokehub_contracts import Change, Forget, Identifier, MergeContacts, utcnow

from ..config import Project
from ..delivery.holdings import Held, holders
from ..identity import IdentityRules
from ..identity.outcome import ProfileChange
from ..registry import Registry
from ..store.driver_sql import chunks
from ..store.tables import outbox
from .outgoing import whole_person
from .routing import OUTBOX_COLUMNS

#: Outbox statuses of a change that has not reached its destination yet.
_UNFINISHED = ("pending", "retry", "inflight")


@dataclass(frozen=True)
class _Reach:
    """What the hub may send one destination connection about identity changes."""

    merges: bool
    forgets: bool
    #: Whether ``forget()`` by identifiers alone is the only way to delete there.
    by_identifiers_only: bool
    #: The route that carries person upserts there, if any.
    upsert_route: str | None
    #: The route merge and forget rows are filed under (the first route there).
    route: str


class IdentityChanges:
    """Builds the outbox rows of merges and splits for a project's destinations."""

    def __init__(self, project: Project, registry: Registry) -> None:
        self._reach: dict[str, _Reach] = {}
        routes = [(route.name or str(i), route) for i, route in enumerate(project.routes)]
        for name, connection in project.destinations().items():
            registered = registry.destinations.get(connection.spoke or "")
            mine = [(key, r) for key, r in routes if r.to == name]
            if registered is None or not mine:
                continue
            caps = registered.cls.capabilities
            kinds = frozenset(caps.record_kinds)

            def accepts(kind: str, kinds: frozenset[str] = kinds) -> bool:
                return not kinds or kind in kinds

            upsert = next((k for k, r in mine if "upsert_person" in r.kinds), None)
            self._reach[name] = _Reach(
                merges=caps.merges and accepts("merge"),
                forgets=accepts("forget") or caps.can_delete,
                by_identifiers_only=not accepts("forget"),
                upsert_route=upsert if accepts("upsert_person") else None,
                route=mine[0][0],
            )

    def merged(
        self,
        conn: Connection,
        rules: IdentityRules,
        absorbed: Mapping[str, str],
        item_prefix: str,
    ) -> list[tuple[Any, ...]]:
        """Outbox rows (:data:`~.routing.OUTBOX_COLUMNS`) for merges ``{absorbed: survivor}``
        of this transaction; ``item_prefix`` makes their item IDs unique."""
        if not absorbed or not self._reach:
            return []
        # A contact absorbed into one that is itself absorbed in the same batch ends at
        # the last survivor.
        final = {a: _follow(absorbed, a) for a in absorbed}
        held = {
            (h.destination, h.contact_id): h
            for h in holders(conn, [*final, *final.values()])
            if h.destination in self._reach
        }
        for destination, contact_id, keys in _waiting(conn, final):
            if destination not in self._reach:
                continue
            before = held.get((destination, contact_id))
            known = set(before.identifiers) if before else set()
            held[(destination, contact_id)] = Held(
                destination,
                contact_id,
                before.external_id if before else None,
                tuple(sorted(known | keys)),
            )
        rows: list[tuple[Any, ...]] = []
        n = 0

        def item_id() -> str:
            nonlocal n
            n += 1
            return f"{item_prefix}:{n}"

        survivors_sent: set[tuple[str, str]] = set()
        for (destination, contact_id), gone in sorted(held.items()):
            survivor = final.get(contact_id)
            if survivor is None:
                continue
            reach = self._reach[destination]
            kept = held.get((destination, survivor))
            kept_keys = set(kept.identifiers) if kept else set()
            change: Change | None = None
            if reach.merges:
                change = MergeContacts(
                    item_id=item_id(),
                    contact_id=survivor,
                    identifiers=_identifiers(kept_keys),
                    absorbed_contact_id=contact_id,
                    absorbed_identifiers=_identifiers(gone.identifiers),
                    external_id=kept.external_id if kept else None,
                    absorbed_external_id=gone.external_id,
                )
            elif reach.forgets and reach.upsert_route is not None:
                only_absorbed = _identifiers(set(gone.identifiers) - kept_keys)
                if only_absorbed or not reach.by_identifiers_only:
                    change = Forget(
                        item_id=item_id(), contact_id=contact_id, identifiers=only_absorbed
                    )
            if change is not None:
                rows.append(_row(destination, reach.route, change))
            if reach.upsert_route is not None and (destination, survivor) not in survivors_sent:
                survivors_sent.add((destination, survivor))
                person = whole_person(conn, rules, survivor, item_id())
                rows.append(_row(destination, reach.upsert_route, person))
        return rows

    def split(
        self,
        conn: Connection,
        rules: IdentityRules,
        parts: Mapping[str, Sequence[str]],
        item_prefix: str,
    ) -> list[tuple[Any, ...]]:
        """Outbox rows re-upserting both sides of splits ``{kept contact: [split-off
        contacts]}`` to every destination that holds the kept contact."""
        rows: list[tuple[Any, ...]] = []
        n = 0
        for h in holders(conn, parts):
            reach = self._reach.get(h.destination)
            if reach is None or reach.upsert_route is None:
                continue
            for contact_id in (h.contact_id, *parts[h.contact_id]):
                n += 1
                person = whole_person(conn, rules, contact_id, f"{item_prefix}:{n}")
                rows.append(_row(h.destination, reach.upsert_route, person))
        return rows


def announce_splits(
    conn: Connection,
    project: Project,
    registry: Registry,
    changes: Iterable[ProfileChange],
) -> int:
    """Put the re-upserts of an unmerge's splits in the outbox, in the unmerge's
    transaction; returns how many rows that made."""
    parts = {c.contact_id: c.others for c in changes if c.kind == "split"}
    if not parts:
        return 0
    builder = IdentityChanges(project, registry)
    rows = builder.split(conn, project.identity, parts, f"split:{uuid.uuid4().hex}")
    _write_rows(conn, rows)
    return len(rows)


def _write_rows(conn: Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    if not rows:
        return
    now = utcnow()
    conn.execute(
        outbox.insert(),
        [
            {**dict(zip(OUTBOX_COLUMNS, r, strict=True)), "created_at": now, "due_at": now}
            for r in rows
        ],
    )


def _follow(absorbed: Mapping[str, str], contact_id: str) -> str:
    seen = {contact_id}
    current = absorbed[contact_id]
    while current in absorbed and current not in seen:
        seen.add(current)
        current = absorbed[current]
    return current


def _waiting(
    conn: Connection, contacts: Iterable[str]
) -> Iterable[tuple[str, str, set[tuple[str, str]]]]:
    """``(destination, contact, identifiers)`` of changes about ``contacts`` still on
    their way: the destination will hold the contact once they are delivered."""
    o = outbox.c
    found: dict[tuple[str, str], set[tuple[str, str]]] = {}
    for part in chunks(sorted(set(contacts))):
        query = select(o.destination, o.contact_id, o.kind, o.item).where(
            o.contact_id.in_(part), o.status.in_(_UNFINISHED)
        )
        for destination, contact_id, kind, item in conn.execute(query):
            keys = found.setdefault((destination, contact_id), set())
            if kind in ("forget", "merge"):
                continue
            try:
                for ident in orjson.loads(item).get("identifiers") or ():
                    keys.add((str(ident["type"]), str(ident["value"])))
            except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError):
                continue
    for (destination, contact_id), keys in found.items():
        yield destination, contact_id, keys


def _identifiers(keys: Iterable[tuple[str, str]]) -> tuple[Identifier, ...]:
    # The values were normalized when they were first sent.
    return tuple(Identifier.model_construct(type=t, value=v) for t, v in sorted(keys))


def _row(destination: str, route: str, change: Change) -> tuple[Any, ...]:
    return (destination, route, change.contact_id, change.kind, None, change.model_dump_json())
