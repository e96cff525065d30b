"""The decision step without a database: properties of :func:`decide` on plain values.

``MemoryStore`` keeps the identity tables as dicts and writes a plan the way the store's
apply step does (merges move identifiers, new identifiers join their profile, an edge is
stored once per pair and a refused one becomes active when a later record may link it),
so the decision can be driven across batches in any order and batching. The graph it
hands the decision holds only the counts :func:`needs` names, so every example also
checks that prediction: a missing count would raise ``MissingCounts``.
"""

from __future__ import annotations

import copy
from collections import Counter
from datetime import timedelta
from itertools import count, pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spokehub.identity import Evidence, IdentityRules
from spokehub.identity.batch import Batch, normalize
from spokehub.identity.decide import Graph, MissingCounts, Plan, decide, needs
from spokehub.identity.evidence import Key
from spokehub.identity.graph import components

from .helpers import T0, UNLIMITED, corpora, expected_components, ident, records_of

PURE = settings(max_examples=300, deadline=None)


class MemoryStore:
    """The identity tables as plain dicts (see the module docstring)."""

    def __init__(self) -> None:
        self.contact: dict[Key, str] = {}
        self.row: dict[Key, int] = {}
        self.edges: dict[tuple[Key, Key], str] = {}
        self._rows = count(1)
        self._ids = count(1)

    def new_ids(self, n: int) -> list[str]:
        """Ascending contact IDs, each greater than every earlier one (as UUIDv7 are)."""
        return [f"c{next(self._ids):06d}" for _ in range(n)]

    def graph(self, rules: IdentityRules, batch: Batch) -> Graph:
        known = {k: (self.row[k], self.contact[k]) for k in batch.keys if k in self.contact}
        need = needs(rules, batch, known)
        counts = {
            cid: dict(Counter(k[0] for k, c in self.contact.items() if c == cid))
            for cid in need.counts
        }
        removed = {
            pair
            for pair, status in self.edges.items()
            if status == "removed" and all(k in known and known[k][0] in need.linked for k in pair)
        }
        return Graph(known, counts, frozenset(removed | {(b, a) for a, b in removed}))

    def write(self, plan: Plan) -> None:
        for key, cid in self.contact.items():
            if cid in plan.absorbed_to:
                self.contact[key] = plan.absorbed_to[cid]
        for key, (cid, _connection) in plan.new_identifiers.items():
            self.contact[key] = cid
            self.row[key] = next(self._rows)
        for pair, (_record, status, _reason) in plan.edges.items():
            stored = self.edges.get(pair)
            if stored is None or (stored == "rejected" and status == "active"):
                self.edges[pair] = status

    def resolve(self, rules: IdentityRules, records: list[Evidence]) -> Plan:
        batch = normalize(rules, records)
        plan = decide(rules, batch, self.graph(rules, batch), self.new_ids)
        self.write(plan)
        return plan

    def partition(self) -> set[frozenset[str]]:
        groups: dict[str, set[str]] = {}
        for (type_, value), cid in self.contact.items():
            groups.setdefault(cid, set()).add(f"{type_}:{value}")
        return {frozenset(g) for g in groups.values()}

    def active_components(self) -> set[frozenset[str]]:
        links = [(a, b) for (a, b), status in self.edges.items() if status == "active"]
        return {frozenset(f"{t}:{v}" for t, v in part) for part in components(self.contact, links)}


def _batches(records: list[Evidence], cuts: list[int]) -> list[list[Evidence]]:
    points = sorted({c % (len(records) + 1) for c in cuts} | {0, len(records)})
    return [records[a:b] for a, b in pairwise(points) if b > a]


@PURE
@given(corpus=corpora, order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(0, 20)))
def test_without_refusals_profiles_are_connected_components(corpus, order, cuts):
    records = records_of(corpus)
    order.shuffle(records)
    store = MemoryStore()
    for batch in _batches(records, cuts):
        assert store.resolve(UNLIMITED, batch).refusals == []
    assert store.partition() == expected_components(corpus)


@PURE
@given(
    stored=corpora,
    corpus=corpora,
    order=st.randoms(use_true_random=False),
    default_rules=st.booleans(),
)
def test_any_order_of_a_batch_decides_the_same_partition(stored, corpus, order, default_rules):
    rules = IdentityRules() if default_rules else UNLIMITED
    records = records_of(corpus, prefix="b")
    shuffled = list(records)
    order.shuffle(shuffled)
    seen = []
    for batch in (records, shuffled):
        store = MemoryStore()
        store.resolve(rules, records_of(stored, prefix="a"))
        store.resolve(rules, batch)
        seen.append(store.partition())
    assert seen[0] == seen[1]


@PURE
@given(corpus=corpora, cuts=st.lists(st.integers(0, 20), max_size=4))
def test_default_rules_keep_limits_and_profiles_are_active_components(corpus, cuts):
    rules = IdentityRules()
    store = MemoryStore()
    for batch in _batches(records_of(corpus), cuts):
        plan = store.resolve(rules, batch)
        for merge in plan.merges:
            assert merge.survivor < merge.absorbed, "the oldest contact ID survives"
        for refusal in plan.refusals:
            keys = next(ks for i, ks, _us in normalize(rules, batch).entries if i == refusal.record)
            assert refusal.kept == keys[0], "a record keeps its first identifier's link"
            assert refusal.refused != refusal.kept
    parts = store.partition()
    assert sum(len(p) for p in parts) == len({i for ids in corpus for i in ids})
    assert parts == store.active_components()
    for p in parts:
        for type_ in ("user_id", "email", "phone", "anonymous_id"):
            assert sum(i.startswith(type_ + ":") for i in p) <= rules.limit_for(type_)


@PURE
@given(stored=corpora, corpus=corpora, default_rules=st.booleans())
def test_decide_changes_neither_input_and_needs_no_more_counts(stored, corpus, default_rules):
    rules = IdentityRules() if default_rules else UNLIMITED
    store = MemoryStore()
    store.resolve(rules, records_of(stored, prefix="a"))
    batch = normalize(rules, records_of(corpus, prefix="b"))
    graph = store.graph(rules, batch)
    before = copy.deepcopy((batch.entries, graph))
    ids = count(10**5)
    plan = decide(rules, batch, graph, lambda n: [f"c{next(ids):06d}" for _ in range(n)])
    assert (batch.entries, graph) == before
    # Every stored profile counted: the same plan as with only the predicted counts.
    every = {
        cid: dict(Counter(k[0] for k in store.contact if store.contact[k] == cid))
        for cid in set(store.contact.values())
    }
    ids = count(10**5)
    again = decide(
        rules,
        batch,
        Graph(graph.known, every, graph.removed),
        lambda n: [f"c{next(ids):06d}" for _ in range(n)],
    )
    assert again == plan


def _plan(rules: IdentityRules, *records: list[str], graph: Graph | None = None) -> Plan:
    batch = normalize(
        rules,
        [
            Evidence(f"r{n}", "web", T0 + timedelta(minutes=n), [ident(i) for i in ids])
            for n, ids in enumerate(records)
        ],
    )
    ids = count(1)
    return decide(
        rules, batch, graph or Graph({}), lambda n: [f"c{next(ids):06d}" for _ in range(n)]
    )


def test_blocked_values_link_nothing():
    plan = _plan(IdentityRules(), ["email:test@test.com", "user_id:u1"], ["email:test@test.com"])
    assert list(plan.new_identifiers) == [("user_id", "u1")]
    assert plan.contact_ids == ["c000001", None]
    assert plan.edges == {}


def test_a_removed_pair_stays_apart():
    a, b = ("email", "a@example.com"), ("phone", "+14155550100")
    graph = Graph({a: (1, "c1"), b: (2, "c2")}, {"c1": {"email": 1}, "c2": {"phone": 1}})
    removed = Graph(graph.known, graph.counts, frozenset({(a, b), (b, a)}))
    record = ["email:a@example.com", "phone:+14155550100"]
    assert _plan(IdentityRules(), record, graph=graph).absorbed_to == {"c2": "c1"}
    plan = _plan(IdentityRules(), record, graph=removed)
    assert plan.absorbed_to == {}
    assert [(r.refused, r.rule, r.contact, r.other) for r in plan.refusals] == [
        (b, "unmerged", "c1", "c2")
    ]


def test_a_count_the_graph_lacks_is_named():
    a, b = ("email", "a@example.com"), ("phone", "+14155550100")
    graph = Graph({a: (1, "c1"), b: (2, "c2")})
    with pytest.raises(MissingCounts) as caught:
        _plan(IdentityRules(), ["email:a@example.com", "phone:+14155550100"], graph=graph)
    assert caught.value.contact_id in {"c1", "c2"}
