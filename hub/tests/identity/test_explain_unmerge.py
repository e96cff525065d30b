"""explain and unmerge: every merge can be shown and undone."""

from __future__ import annotations

import pytest

from spokehub.identity import IdentityRules
from spokehub.identity.errors import NoSuchEvidence, UnknownIdentifier
from spokehub.identity.explain import explain
from spokehub.identity.lookup import lookup
from spokehub.identity.unmerge import unmerge

from .helpers import check_invariants, ident, partition, rec, resolve

RULES = IdentityRules()


def test_explain_shows_the_evidence_chain(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:u1", "email:x@example.com", record_id="signup", conn="shop")])
        resolve(
            conn, [rec("email:x@example.com", "phone:+14155550111", record_id="crm-1", conn="crm")]
        )
        why = explain(conn, RULES, ident("user_id:u1"), ident("phone:+14155550111"))
        assert why.same_profile
        assert [(s.record_id, s.connection) for s in why.path] == [
            ("signup", "shop"),
            ("crm-1", "crm"),
        ]
        assert why.path[0].source == ("user_id", "u1")
        assert why.path[-1].target == ("phone", "+14155550111")


def test_explain_shows_refusals_between_two_people(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:u1", "email:shared@example.com")])
        resolve(conn, [rec("user_id:u2", "email:shared@example.com", record_id="clash")])
        why = explain(conn, RULES, ident("user_id:u1"), ident("user_id:u2"))
        assert not why.same_profile and why.path == []
        refused = [e for e in why.log if e["action"] == "reject"]
        assert refused and refused[0]["record_id"] == "clash" and refused[0]["rule"] == "limit"


def test_explain_a_merge_by_contact_ids(engine):
    with engine.begin() as conn:
        a = resolve(conn, [rec("email:a@example.com")]).contact_ids[0]
        b = resolve(conn, [rec("phone:+14155550112")]).contact_ids[0]
        resolve(conn, [rec("email:a@example.com", "phone:+14155550112", record_id="link")])
        why = explain(conn, RULES, b, a)
        assert why.same_profile
        merges = [e for e in why.log if e["action"] == "merge"]
        assert [(e["survivor"], e["other"], e["record_id"]) for e in merges] == [(a, b, "link")]


def test_unmerge_by_record_splits_and_logs(engine):
    with engine.begin() as conn:
        a = resolve(conn, [rec("email:a@example.com", "anonymous_id:d1")]).contact_ids[0]
        resolve(conn, [rec("phone:+14155550113", "anonymous_id:d2")])
        before = partition(conn)
        resolve(conn, [rec("email:a@example.com", "phone:+14155550113", record_id="bad")])
        assert len(partition(conn)) == 1
        result = unmerge(conn, RULES, record_id="bad", reason="wrong phone")
        assert partition(conn) == before
        (change,) = result.changes
        assert change.kind == "split" and change.contact_id == a and len(change.others) == 1
        assert lookup(conn, ident("email:a@example.com")) == a
        check_invariants(conn)
        # Sticky: the same evidence again does not re-join the pair.
        resolve(conn, [rec("email:a@example.com", "phone:+14155550113")])
        assert partition(conn) == before


def test_unmerge_an_identifier_keeps_the_id_with_the_best_identifier(engine):
    with engine.begin() as conn:
        cid = resolve(
            conn, [rec("user_id:u1", "email:a@example.com", "phone:+14155550114")]
        ).contact_ids[0]
        result = unmerge(conn, RULES, identifier=ident("user_id:u1"))
        assert result.removed_edges == 2
        assert lookup(conn, ident("user_id:u1")) == cid
        assert lookup(conn, ident("email:a@example.com")) != cid
        assert lookup(conn, ident("phone:+14155550114")) != cid
        check_invariants(conn)


def test_unmerge_a_pair(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("email:a@example.com", "phone:+14155550115")])
        unmerge(conn, RULES, pair=(ident("email:a@example.com"), ident("phone:+14155550115")))
        assert len(partition(conn)) == 2


def test_unmerge_errors(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("email:a@example.com")])
        with pytest.raises(NoSuchEvidence):
            unmerge(conn, RULES, record_id="nope")
        with pytest.raises(UnknownIdentifier) as info:
            unmerge(conn, RULES, identifier=ident("email:secret@example.com"))
        assert "secret" not in str(info.value)
        with pytest.raises(ValueError):
            unmerge(conn, RULES)
