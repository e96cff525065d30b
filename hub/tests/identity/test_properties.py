"""Property tests: the partition resolution produces is the one the model promises."""

from __future__ import annotations

from contextlib import suppress
from itertools import pairwise

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from spokehub.identity import Evidence, IdentityRules
from spokehub.identity.errors import NoSuchEvidence
from spokehub.identity.graph import components
from spokehub.identity.resolve import resolve_batch
from spokehub.identity.tables import edges, identifiers
from spokehub.identity.unmerge import unmerge

from .helpers import (
    UNLIMITED,
    check_invariants,
    corpora,
    expected_components,
    partition,
    record_ids,
    records_of,
    restrict,
)

PROPS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _in_rollback(engine, fn) -> None:
    with engine.connect() as conn:
        tx = conn.begin()
        try:
            fn(conn)
        finally:
            tx.rollback()


def _batches(records: list[Evidence], cuts: list[int]) -> list[list[Evidence]]:
    points = sorted({c % (len(records) + 1) for c in cuts} | {0, len(records)})
    return [records[a:b] for a, b in pairwise(points) if b > a]


def _active_components(conn) -> set[frozenset[str]]:
    names = {
        r.id: f"{r.type}:{r.value}"
        for r in conn.execute(select(identifiers.c.id, identifiers.c.type, identifiers.c.value))
    }
    links = [
        (names[r.src_id], names[r.dst_id])
        for r in conn.execute(
            select(edges.c.src_id, edges.c.dst_id).where(edges.c.status == "active")
        )
    ]
    return {frozenset(c) for c in components(names.values(), links)}


@PROPS
@given(corpus=corpora, order=st.randoms(use_true_random=False), cuts=st.lists(st.integers(0, 20)))
def test_without_refusals_profiles_are_connected_components(engine, corpus, order, cuts):
    records = records_of(corpus)
    order.shuffle(records)

    def run(conn):
        for batch in _batches(records, cuts):
            assert resolve_batch(conn, UNLIMITED, batch).decisions == []
        assert partition(conn) == expected_components(corpus)
        check_invariants(conn)

    _in_rollback(engine, run)


@PROPS
@given(corpus=corpora, order=st.randoms(use_true_random=False))
def test_any_order_of_a_batch_gives_the_same_partition(engine, corpus, order):
    records = records_of(corpus)
    shuffled = list(records)
    order.shuffle(shuffled)
    seen = []

    def run(batch):
        def inner(conn):
            resolve_batch(conn, IdentityRules(), batch)
            seen.append(partition(conn))

        return inner

    _in_rollback(engine, run(records))
    _in_rollback(engine, run(shuffled))
    assert seen[0] == seen[1]


@PROPS
@given(corpus=corpora, cuts=st.lists(st.integers(0, 20), max_size=4))
def test_default_rules_keep_every_invariant(engine, corpus, cuts):
    rules = IdentityRules()
    records = records_of(corpus)

    def run(conn):
        for batch in _batches(records, cuts):
            resolve_batch(conn, rules, batch)
        check_invariants(conn)
        parts = partition(conn)
        # Every identifier in exactly one profile, and profiles are the components of the
        # edges the rules allowed.
        assert sum(len(p) for p in parts) == len({i for ids in corpus for i in ids})
        assert parts == _active_components(conn)
        for p in parts:
            for type_ in ("user_id", "email", "phone", "anonymous_id"):
                assert sum(i.startswith(type_ + ":") for i in p) <= rules.limit_for(type_)

    _in_rollback(engine, run)


@PROPS
@given(corpus=corpora, extra=record_ids, default_rules=st.booleans())
def test_unmerge_after_merge_restores_the_partition(engine, corpus, extra, default_rules):
    rules = IdentityRules() if default_rules else UNLIMITED

    def run(conn):
        resolve_batch(conn, rules, records_of(corpus))
        before = partition(conn)
        known = set().union(*before)
        ids = [i for i in extra if i in known] or [next(iter(known))]
        (late,) = records_of([ids], prefix="late")
        resolve_batch(conn, rules, [late])
        # NoSuchEvidence: the record added no new link, so there is nothing to undo.
        with suppress(NoSuchEvidence):
            unmerge(conn, rules, record_id=late.record_id, reason="test")
        assert restrict(partition(conn), known) == before
        check_invariants(conn)

    _in_rollback(engine, run)
