"""Step 1 of resolution: a batch of records, normalized for the decision (pure).

Blocked values are dropped, each record's identifiers are deduplicated and put in priority
order, and the records are put in resolution order: ``(observed_at, record_id)``, so any
order of the same records gives the same batch.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from ..store.driver_sql import utc
from .evidence import Evidence, Key
from .rules import IdentityRules
from .tables import EPOCH, MICROSECOND

#: One record with at least one usable identifier: ``(index, keys, micros)``, that is the
#: record's position in the records given; its identifiers, blocked ones out, no repeats,
#: highest priority first (then by type and value); and when it was observed, in
#: microseconds since the epoch (how sightings are stored). A plain tuple: a batch makes
#: one per record, and a named tuple costs many times more to build.
Entry = tuple[int, list[Key], int]


@dataclass(frozen=True, slots=True)
class Batch:
    """The records of one resolution, as the decision takes them.

    ``observed_at[i]`` is ``records[i].observed_at``, aware and in UTC; ``entries`` hold
    the records with a usable identifier, in resolution order; ``keys`` every identifier
    they carry; ``ignored`` counts the blocked identifiers dropped.
    """

    records: Sequence[Evidence]
    observed_at: list[datetime]
    entries: list[Entry]
    keys: set[Key]
    ignored: int


def normalize(rules: IdentityRules, records: Sequence[Evidence]) -> Batch:
    """``records`` as a :class:`Batch` under ``rules`` (see the module docstring)."""
    when = [r.observed_at for r in records]
    if not all(w.tzinfo is UTC for w in when):
        when = [utc(w) for w in when]
    # Batches usually arrive in time order already; then there is nothing to sort (and
    # with strictly increasing times, no ties for the record IDs to break).
    if all(a < b for a, b in pairwise(when)):
        order: Iterable[int] = range(len(records))
    else:
        order = sorted(range(len(records)), key=lambda i: (when[i], records[i].record_id))
    entries: list[Entry] = []
    compiled = rules.compiled()
    ranks, star, blocked = compiled.ranks, compiled.star, compiled.blocked.match

    def priority(k: Key) -> tuple[int, Key]:
        return ranks.get(k[0], star), k

    # One tuple object per distinct identifier of the batch: every later step looks keys
    # up several times over (stored identifiers, clusters, sightings, edges), and a dict
    # finds an identical key without comparing its strings.
    canon: dict[Key, Key] = {}
    same = canon.setdefault
    ignored = 0
    for i in order:
        seen: dict[Key, None] = {}
        for ident in records[i].identifiers:
            value = ident.value
            if blocked(value):
                ignored += 1
                continue
            key = (ident.type, value)
            seen[same(key, key)] = None
        if not seen:
            continue
        if len(seen) == 1:
            ks = [*seen]
        elif len(seen) == 2:
            a, b = seen
            ks = [a, b] if (ranks.get(a[0], star), a) < (ranks.get(b[0], star), b) else [b, a]
        else:
            ks = sorted(seen, key=priority)
        entries.append((i, ks, (when[i] - EPOCH) // MICROSECOND))
    # Every key kept belongs to a record that has an entry.
    return Batch(records, when, entries, set(canon), ignored)
