"""Coalescing upserts inside one batch: one change per object, the latest winning.

An upsert states what an object looks like now (the pipeline writes the profile's
current state, latest wins), so when a batch holds several upserts of one object for one
route only the latest goes out, in its own place in the batch; the earlier rows share
its fate. Fields are not merged across changes: a field the latest change clears must
stay cleared. Events, audience changes and erasures are never coalesced: each one
matters and keeps its place.

The object is the profile for person upserts, the account for account upserts, and the
(profile, account) pair for memberships, since a person may belong to several accounts.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

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
    """Keep the latest upsert of each object and route.

    :returns: the entries to send, in batch order, and ``{superseded row: survivor row}``.
    """
    groups: dict[Hashable, list[int]] = {}
    for index, (_, route, change) in enumerate(entries):
        if change.kind not in UPSERT_KINDS:
            continue
        key = object_key(change)
        if key is not None:
            groups.setdefault((route, change.kind, key), []).append(index)
    dropped: dict[int, int] = {}
    if len(groups) == sum(map(len, groups.values())):
        return list(entries), dropped  # one change per object: nothing to coalesce
    for indexes in groups.values():
        survivor = entries[indexes[-1]][0]
        for index in indexes[:-1]:
            dropped[entries[index][0]] = survivor
    kept = [entry for entry in entries if entry[0] not in dropped]
    return kept, dropped
