"""Two OS processes resolving overlapping records at once on PostgreSQL end in one
consistent partition: no lost merge, no duplicate profile."""

from __future__ import annotations

import multiprocessing
import random

import pytest
from sqlalchemy import func, select

from spokehub.identity import Evidence, IdentityRules
from spokehub.identity.graph import components
from spokehub.identity.resolve import resolve_batch
from spokehub.identity.tables import identifiers
from spokehub.store import create_store_engine, upgrade

from .helpers import T0, check_invariants, ident, partition

RULES = IdentityRules(limits={}, default_limit=10_000, never_merge_on=[])


def _corpus() -> list[list[str]]:
    # A long chain (every record merges two profiles the other process is growing) plus
    # many short, overlapping groups.
    chain = [[f"email:c{i}@example.com", f"email:c{i + 1}@example.com"] for i in range(120)]
    groups = [
        [f"user_id:g{i}", f"anonymous_id:d{i % 40}", f"phone:+1415555{1000 + i % 70}"]
        for i in range(160)
    ]
    return chain + groups


def _worker(url: str, records: list[list[str]], seed: int, start, errors) -> None:
    engine = create_store_engine(url)
    order = list(enumerate(records))
    random.Random(seed).shuffle(order)
    start.wait()
    try:
        for n in range(0, len(order), 3):  # small transactions: the most interleaving
            batch = [
                Evidence(f"w{seed}-{i}", "web", T0, [ident(x) for x in ids])
                for i, ids in order[n : n + 3]
            ]
            with engine.begin() as conn:
                resolve_batch(conn, RULES, batch)
    except Exception as exc:  # report to the parent; a child's traceback is easy to miss
        errors.put(repr(exc))
        raise
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_two_processes_end_in_one_consistent_partition(pg_schema_url):
    engine = create_store_engine(pg_schema_url)
    upgrade(engine)
    engine.dispose()  # no pooled connection may cross the fork
    records = _corpus()
    ctx = multiprocessing.get_context("fork")
    start, errors = ctx.Barrier(2), ctx.Queue()
    # Both processes see every record (in different orders): maximal overlap.
    workers = [
        ctx.Process(target=_worker, args=(pg_schema_url, records, seed, start, errors))
        for seed in (1, 2)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not [w for w in workers if w.is_alive()], "a worker hung (deadlock?)"
    assert errors.empty(), errors.get()
    assert all(w.exitcode == 0 for w in workers)

    nodes = {i for ids in records for i in ids}
    expected = {
        frozenset(c) for c in components(nodes, [(ids[0], o) for ids in records for o in ids[1:]])
    }
    try:
        with engine.connect() as conn:
            assert partition(conn) == expected
            check_invariants(conn)
            total = conn.execute(select(func.count()).select_from(identifiers)).scalar()
            assert total == len(nodes)
    finally:
        engine.dispose()
