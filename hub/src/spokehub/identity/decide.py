"""Step 3 of resolution: the decision, a pure function of the loaded graph and the batch.

:func:`decide` takes the slice of the stored graph a batch touches (:class:`Graph`, read
by :mod:`.load`) and the normalized batch (:class:`~.batch.Batch`) and returns the write
plan (:class:`Plan`) that :mod:`.apply` carries out. It reads no database and changes
neither of its inputs, so every rule of the model (see :mod:`.resolve`) can be tested,
and property-tested, on plain values.

How it works: a union-find over clusters, one per stored profile the batch touches and
one per profile the batch starts. Records are taken in resolution order; each record's
identifiers, highest priority first, are joined into one cluster unless a rule refuses
an identifier's link: an operator's removal (``unmerged``), an opt-in never-merge type
between two anchored profiles that existed before the record (``never_merge``), or a
per-type limit (``limit``, the lowest-priority identifier outside the record's first
profile goes first; an ``asserted`` record, an alias, is exempt).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import NamedTuple

from .batch import Batch
from .evidence import Key
from .ids import new_contact_ids
from .outcome import ProfileChange
from .rules import IdentityRules

#: A stored identifier: ``(row id, the live contact ID holding it)`` (a plain tuple: a
#: batch loads tens of thousands of them).
Known = tuple[int, str]


@dataclass(frozen=True, slots=True)
class Graph:
    """The slice of the stored identity graph one batch touches.

    ``known``: the batch's identifiers the store holds. ``counts``: identifiers per type
    of the stored profiles whose counts the decision may ask for (:func:`needs` says
    which). ``removed``: pairs of the batch's identifiers an operator's unmerge removed,
    in both orders.
    """

    known: dict[Key, Known]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    removed: frozenset[tuple[Key, Key]] = frozenset()


@dataclass(frozen=True, slots=True)
class Needs:
    """What the decision may ask of the store beyond the batch's own identifiers.

    ``counts``: the profiles a record could link to something else (a record whose
    identifiers all sit in one profile already, one of them of a type that anchors, asks
    the rules nothing). ``linked``: row ids of stored identifiers that a record carries
    together with another stored one (only between those can an operator's removal
    matter).
    """

    counts: set[str]
    linked: set[int]


class MissingCounts(LookupError):
    """The decision needed the counts of a profile the graph was loaded without."""

    def __init__(self, contact_id: str) -> None:
        super().__init__("the loaded graph lacks the identifier counts of a profile")
        self.contact_id = contact_id


class Merge(NamedTuple):
    """Profile ``absorbed`` joins ``survivor`` (the live contact ID after the batch)
    because record ``record`` (an index into the batch's records) linked ``linked``."""

    survivor: str
    absorbed: str
    record: int
    linked: tuple[Key, ...]


#: An evidence edge to store: ``(record, status, reason)``, the batch's first record that
#: showed the pair, ``active``, or, if none may join it, the first that was refused,
#: ``rejected``, with the rule. A plain tuple: a batch plans one per linked pair.
PlannedEdge = tuple[int, str, str | None]


class Refusal(NamedTuple):
    """Record ``record`` carried ``kept`` (its highest-priority identifier) and
    ``refused``, whose link ``rule`` refused; ``contact`` and ``other`` are their
    profiles after the batch."""

    record: int
    kept: Key
    refused: Key
    rule: str
    contact: str
    other: str


@dataclass(slots=True)
class Plan:
    """What the store must become after the batch (carried out by :mod:`.apply`).

    - ``contact_ids[i]``: the live contact ID of ``records[i]`` (``None``: nothing usable);
    - ``created``: new contact IDs, ascending; ``merges`` in the order they happened, and
      ``absorbed_to``: each absorbed contact ID's final survivor;
    - ``new_identifiers``: identifiers new to the store, with their profile and the
      connection that first showed them, in order of first sighting;
    - ``first_seen`` / ``last_seen``: the batch's first and latest sighting of every
      identifier it carried (microseconds since the epoch);
    - ``edges``: evidence edges by identifier pair (the smaller key first);
    - ``refusals``: links the rules refused, each once per pair.
    """

    contact_ids: list[str | None]
    created: list[str] = field(default_factory=list)
    merges: list[Merge] = field(default_factory=list)
    absorbed_to: dict[str, str] = field(default_factory=dict)
    new_identifiers: dict[Key, tuple[str, str]] = field(default_factory=dict)
    first_seen: dict[Key, int] = field(default_factory=dict)
    last_seen: dict[Key, int] = field(default_factory=dict)
    edges: dict[tuple[Key, Key], PlannedEdge] = field(default_factory=dict)
    refusals: list[Refusal] = field(default_factory=list)

    def changes(self) -> list[ProfileChange]:
        """Created profiles, then merges by survivor (both ascending by contact ID)."""
        out = [ProfileChange("created", cid) for cid in self.created]
        by_survivor: dict[str, list[str]] = {}
        for absorbed, survivor in self.absorbed_to.items():
            by_survivor.setdefault(survivor, []).append(absorbed)
        out.extend(
            ProfileChange("merged", s, tuple(sorted(a))) for s, a in sorted(by_survivor.items())
        )
        return out


def needs(rules: IdentityRules, batch: Batch, known: dict[Key, Known]) -> Needs:
    """What :func:`decide` may ask about ``batch`` once ``known`` is loaded (see
    :class:`Needs`)."""
    never = frozenset(rules.never_merge_on)
    counts: set[str] = set()
    linked: set[int] = set()
    for _i, ks, _us in batch.entries:
        if len(ks) > 1:
            got = [known.get(k) for k in ks]
            cids = [g[1] if g else None for g in got]
            stored = [g[0] for g in got if g]
            if len(stored) > 1:
                linked.update(stored)
            first_cid = cids[0]
            if (
                first_cid is None
                or cids.count(first_cid) != len(cids)
                or all(k[0] in never for k in ks)
            ):
                counts.update(c for c in cids if c is not None)
    return Needs(counts, linked)


def _drop(
    ks: list[Key], roots: list[int | None], dropped: list[tuple[Key, str]], j: int, rule: str
) -> None:
    """Take the ``j``-th identifier out of a record's links, remembering why."""
    dropped.append((ks.pop(j), rule))
    roots.pop(j)


def decide(
    rules: IdentityRules,
    batch: Batch,
    graph: Graph,
    new_ids: Callable[[int], list[str]] = new_contact_ids,
) -> Plan:
    """The write plan that resolves ``batch`` against ``graph`` under ``rules``.

    ``new_ids(n)`` hands out ``n`` new contact IDs, ascending, each greater than every
    stored one (the survivor of a merge keeps the smallest, i.e. oldest, ID); it is the
    only thing called besides pure code.

    :raises MissingCounts: when a profile's counts were needed and not loaded (never,
        when ``graph.counts`` holds every profile :func:`needs` names).
    """
    records = batch.records
    known = graph.known
    removed_keys = graph.removed
    has_removed = {k for pair in removed_keys for k in pair}
    stored_counts = graph.counts
    rules_nm = frozenset(rules.never_merge_on)
    limit, default_limit = rules.limits.get, rules.default_limit

    # Clusters are numbered from 0; ``counts_of[n]`` and ``contact_of_node[n]`` describe
    # cluster ``n``. A stored profile's counts are copied from the graph on first use.
    parent: list[int] = []
    counts_of: list[dict[str, int] | None] = []
    contact_of_node: list[str | None] = []

    def make(counts: dict[str, int] | None, contact: str | None) -> int:
        n = len(parent)
        parent.append(n)
        counts_of.append(counts)
        contact_of_node.append(contact)
        return n

    def find(n: int) -> int:
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    def counts(n: int) -> dict[str, int]:
        found = counts_of[n]
        if found is None:
            cid = contact_of_node[n]
            assert cid is not None  # only stored profiles start without counts
            stored = stored_counts.get(cid)
            if stored is None:
                raise MissingCounts(cid)
            found = counts_of[n] = dict(stored)
        return found

    def anchored(root: int) -> bool:
        return any(n and t not in rules_nm for t, n in counts(root).items())

    contact_node = {cid: make(None, cid) for cid in {k[1] for k in known.values()}}
    key_node: dict[Key, int] = {key: contact_node[k[1]] for key, k in known.items()}
    # Records are taken in time order, so an identifier's first and last sighting in the
    # batch are simply the first and the latest assignment.
    first_at: dict[Key, int] = {}
    last_at: dict[Key, int] = {}
    new_keys: dict[Key, str] = {}  # identifiers new to the store: the connection first seen
    record_node: dict[int, int] = {}
    pending_edges: dict[tuple[Key, Key], PlannedEdge] = {}
    # (survivor node, absorbed node, record index, the record's linked identifiers)
    merges: list[tuple[int, int, int, tuple[Key, ...]]] = []
    rejects: list[tuple[int, Key, Key, str]] = []  # (record index, anchor, dropped, rule)

    for i, keys, us in batch.entries:
        if len(keys) == 1:
            # One identifier: no link, so no rule applies; attach it or start a profile.
            k = keys[0]
            node = key_node.get(k)
            if node is None:
                target = key_node[k] = make({k[0]: 1}, None)
                new_keys[k] = records[i].connection
                first_at[k] = us
            else:
                target = node if parent[node] == node else find(node)
                if k not in first_at:
                    first_at[k] = us
            last_at[k] = us
            record_node[i] = target
            continue

        ks = [*keys]  # the rules below take identifiers out; the batch stays as it is
        roots: list[int | None] = [
            n if (n := key_node.get(k)) is None or parent[n] == n else find(n) for k in ks
        ]
        dropped: list[tuple[Key, str]] = []

        # An operator's unmerge is sticky: never re-join a removed pair.
        if has_removed and any(k in has_removed for k in ks):
            j = len(ks) - 1
            while j > 0:
                if any((ks[j], ks[m]) in removed_keys for m in range(j)):
                    _drop(ks, roots, dropped, j, "unmerged")
                j -= 1

        same = roots[0] is not None and roots.count(roots[0]) == len(roots)
        # Only a stored never-merge identifier in another profile than the record's can be
        # refused; when all sit in one profile already, nothing is.
        weak = (
            [j for j, k in enumerate(ks) if roots[j] is not None and k[0] in rules_nm]
            if rules_nm and not same
            else ()
        )
        if weak:
            strong = {
                r for k, r in zip(ks, roots, strict=True) if r is not None and k[0] not in rules_nm
            }
            if not strong:
                # No known identifier of another type: whatever else the record carries is
                # new, so it fuses nothing; the first anchored profile is the record's.
                strong = {next((r for r in roots if r is not None and anchored(r)), -1)}
            for j in reversed(weak):  # from the back, so earlier positions stay valid
                r = roots[j]
                if r not in strong and anchored(r):  # type: ignore[arg-type]
                    _drop(ks, roots, dropped, j, "never_merge")

        # When every identifier already sits in one profile nothing can be dropped for a
        # limit (no link leaves the profile), so the check below is skipped.
        # An alias (asserted) is the sender's statement, not a co-occurrence: no limit.
        while (
            len(ks) > 1
            and not (roots[0] is not None and roots.count(roots[0]) == len(roots))
            and not records[i].asserted
        ):
            total: dict[str, int] = {}
            # The most any one side of the link holds: a profile already past a limit (an
            # alias, or rules tightened since) may still gain what it has room for.
            peak: dict[str, int] = {}
            for r in {r for r in roots if r is not None}:
                for t, n in counts(r).items():
                    total[t] = total.get(t, 0) + n
                    if n > peak.get(t, 0):
                        peak[t] = n
            for k, r in zip(ks, roots, strict=True):
                if r is None:
                    t = k[0]
                    total[t] = total.get(t, 0) + 1
                    peak.setdefault(t, 1)
            over = {t for t, n in total.items() if n > limit(t, default_limit) and n > peak[t]}
            if not over:
                break
            anchor = roots[0]
            droppable = [j for j in range(1, len(ks)) if roots[j] is None or roots[j] != anchor]
            # Drop the lowest-priority identifier whose removal relieves an exceeded type;
            # dropping an innocent one would lose a good link and fix nothing.
            relieving = [
                j
                for j in droppable
                if (ks[j][0] in over if roots[j] is None else over & counts(roots[j]).keys())
            ]
            if not droppable:
                break  # the profile was over a limit already (rules were tightened)
            _drop(ks, roots, dropped, (relieving or droppable)[-1], "limit")

        # Join what is left into one cluster; the oldest existing contact ID survives.
        target: int | None = roots[0] if same else None
        for r in () if same else roots:
            if r is None:
                continue
            r = find(r)
            if target is None:
                target = r
                continue
            if r == target:
                continue
            a, b = contact_of_node[target], contact_of_node[r]
            if a is not None and b is not None:
                survivor, absorbed = (target, r) if a < b else (r, target)
                merges.append((survivor, absorbed, i, tuple(ks)))
            elif b is not None:
                survivor, absorbed = r, target
            else:
                survivor, absorbed = target, r
            into = counts(survivor)
            for t, n in counts(absorbed).items():
                into[t] = into.get(t, 0) + n
            parent[absorbed] = survivor
            target = survivor
        if target is None:
            target = make({}, None)
        for k in ks:
            if k not in key_node:
                key_node[k] = target
                held = counts(target)
                held[k[0]] = held.get(k[0], 0) + 1
        for k, _rule in dropped:
            if k not in key_node:
                key_node[k] = make({k[0]: 1}, None)
        record_node[i] = target

        # Bookkeeping for the writes: identifiers' first/last seen, edges, refusals.
        for k in (*ks, *(d for d, _ in dropped)) if dropped else ks:
            if k not in first_at:
                first_at[k] = us
                if k not in known:
                    new_keys[k] = records[i].connection
            last_at[k] = us
        anchor_key = ks[0]
        for k in ks[1:]:
            pair = (anchor_key, k) if anchor_key < k else (k, anchor_key)
            # An accepted link outranks an earlier refusal of the same pair: the profile's
            # active edges must connect it, or unmerge would split it wrongly.
            pending = pending_edges.get(pair)
            if pending is None or pending[1] != "active":
                pending_edges[pair] = (i, "active", None)
        for k, rule in dropped:
            pair = (anchor_key, k) if anchor_key < k else (k, anchor_key)
            if pair not in pending_edges:
                pending_edges[pair] = (i, "rejected", rule)
                rejects.append((i, anchor_key, k, rule))

    # New contact IDs, handed out in the order the records and new identifiers need them.
    fresh: dict[int, None] = {}
    for i, _keys, _us in batch.entries:
        root = find(record_node[i])
        if contact_of_node[root] is None:
            fresh[root] = None
    for node in {key_node[k] for k in new_keys}:
        root = find(node)
        if contact_of_node[root] is None:
            fresh[root] = None
    for root, cid in zip(fresh, new_ids(len(fresh)), strict=True):
        contact_of_node[root] = cid

    def contact_of(node: int) -> str:
        cid = contact_of_node[find(node)]
        assert cid is not None  # every cluster a record or identifier ends in has an ID
        return cid

    plan = Plan(contact_ids=[None] * len(records))
    for i, _keys, _us in batch.entries:
        plan.contact_ids[i] = contact_of_node[find(record_node[i])]
    plan.created = sorted(contact_of(root) for root in fresh)
    for survivor, absorbed, i, linked in merges:
        absorbed_id = contact_of_node[absorbed]
        assert absorbed_id is not None  # only stored profiles are logged as merged
        survivor_id = contact_of(survivor)
        plan.merges.append(Merge(survivor_id, absorbed_id, i, linked))
        plan.absorbed_to[absorbed_id] = survivor_id
    plan.new_identifiers = {k: (contact_of(key_node[k]), c) for k, c in new_keys.items()}
    plan.first_seen, plan.last_seen = first_at, last_at
    plan.edges = pending_edges
    plan.refusals = [
        Refusal(i, kept, k, rule, contact_of(record_node[i]), contact_of(key_node[k]))
        for i, kept, k, rule in rejects
    ]
    return plan
