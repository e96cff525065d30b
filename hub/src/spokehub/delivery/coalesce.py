"""Coalescing upserts inside one batch: one change per object, the latest winning.

An upsert states what an object looks like now, so when a batch holds several upserts of
one object for one route only one needs to go out. The survivor takes the place of the
latest change in the batch, and fields set only by earlier changes are carried into it
(the latest value of each field wins), so nothing the earlier changes said is lost when
a producer sends partial updates. Events, audience changes and erasures are never
coalesced: each one matters and keeps its place.

The object is the profile for person upserts, the account for account upserts, and the
(profile, account) pair for memberships, since a person may belong to several accounts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

from spokehub_contracts import Change, UpsertAccount, UpsertMembership, UpsertPerson

#: Change kinds that state an object's current state.
UPSERT_KINDS = frozenset({"upsert_person", "upsert_account", "upsert_membership"})

#: ``(outbox row id, route, change)`` in outbox order.
Entry = tuple[int, str | None, Change]


def object_key(change: Change) -> Hashable | None:
    """What an upsert is about, or ``None`` when the change must not be coalesced."""
    if isinstance(change, UpsertPerson):
        return change.contact_id
    if isinstance(change, UpsertAccount):
        return change.account.account_id
    if isinstance(change, UpsertMembership):
        if change.contact_id is None:
            return None
        return (change.contact_id, change.membership.account_id)
    return None


def coalesce(entries: Sequence[Entry]) -> tuple[list[Entry], dict[int, int]]:
    """Merge upserts of one object and route.

    :returns: the entries to send, in batch order, and ``{superseded row: survivor row}``.
    """
    groups: dict[Hashable, list[int]] = {}
    for index, (_, route, change) in enumerate(entries):
        key = object_key(change)
        if key is not None:
            groups.setdefault((route, change.kind, key), []).append(index)
    replaced: dict[int, Change] = {}
    dropped: dict[int, int] = {}
    for indexes in groups.values():
        if len(indexes) < 2:
            continue
        merged = entries[indexes[0]][2]
        for index in indexes[1:]:
            merged = merge(merged, entries[index][2])
        last = indexes[-1]
        replaced[last] = merged
        for index in indexes[:-1]:
            dropped[entries[index][0]] = entries[last][0]
    kept: list[Entry] = []
    for index, (row_id, route, change) in enumerate(entries):
        if row_id in dropped:
            continue
        kept.append((row_id, route, replaced.get(index, change)))
    return kept, dropped


def merge(older: Change, newer: Change) -> Change:
    """``newer`` with the fields only ``older`` set; ``newer`` keeps its ``item_id``."""
    if isinstance(older, UpsertPerson) and isinstance(newer, UpsertPerson):
        person = type(newer.person).model_validate(_overlay(older.person, newer.person))
        return newer.model_copy(
            update={
                "person": person,
                "scores": {**older.scores, **newer.scores},
                "identifiers": _union(older.identifiers, newer.identifiers),
            }
        )
    if isinstance(older, UpsertAccount) and isinstance(newer, UpsertAccount):
        account = type(newer.account).model_validate(_overlay(older.account, newer.account))
        return newer.model_copy(
            update={"account": account, "identifiers": _union(older.identifiers, newer.identifiers)}
        )
    if isinstance(older, UpsertMembership) and isinstance(newer, UpsertMembership):
        membership = type(newer.membership).model_validate(
            _overlay(older.membership, newer.membership)
        )
        return newer.model_copy(update={"membership": membership})
    return newer


def _overlay(older: Any, newer: Any) -> dict[str, Any]:
    base = older.model_dump(exclude_unset=True)
    top = newer.model_dump(exclude_unset=True)
    merged = {**base, **top}
    if isinstance(base.get("attributes"), dict) and isinstance(top.get("attributes"), dict):
        merged["attributes"] = {**base["attributes"], **top["attributes"]}
    return merged


def _union(first: Sequence[Any], second: Sequence[Any]) -> tuple[Any, ...]:
    seen: dict[Any, None] = dict.fromkeys(second)
    for item in first:
        seen.setdefault(item, None)
    return tuple(seen)
