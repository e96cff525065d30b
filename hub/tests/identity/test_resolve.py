"""Resolution's steps put together: what the orchestration adds to the decision."""

from __future__ import annotations

from spokehub.identity import IdentityRules
from spokehub.identity import load as load_step
from spokehub.identity.decide import Needs, needs
from spokehub.identity.resolve import resolve_batch

from .helpers import check_invariants, partition, rec


def test_a_count_the_load_did_not_predict_is_loaded_and_decided_again(engine, monkeypatch):
    rules = IdentityRules()
    with engine.connect() as conn:
        tx = conn.begin()
        resolve_batch(conn, rules, [rec("email:a@example.com"), rec("phone:+14155550100")])
        # A load that predicts no counts at all: the merge below needs two profiles' counts.
        monkeypatch.setattr(load_step, "needs", lambda *args: Needs(set(), needs(*args).linked))
        result = resolve_batch(conn, rules, [rec("email:a@example.com", "phone:+14155550100")])
        assert [c.kind for c in result.changes] == ["merged"]
        assert partition(conn) == {frozenset({"email:a@example.com", "phone:+14155550100"})}
        check_invariants(conn)
        tx.rollback()
