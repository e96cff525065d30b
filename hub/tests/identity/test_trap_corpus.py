"""The trap corpus: the ways identity graphs go wrong in practice."""

from __future__ import annotations

from sqlalchemy import func, select

from spokehub.identity import IdentityRules
from spokehub.identity.explain import explain
from spokehub.identity.lookup import live_contact_id, lookup
from spokehub.identity.tables import merge_log, profiles
from spokehub.identity.unmerge import unmerge

from .helpers import check_invariants, ident, partition, rec, resolve


def test_shared_anonymous_id_does_not_fuse_five_users(engine):
    with engine.begin() as conn:
        for n in range(5):
            resolve(conn, [rec(f"user_id:u{n}", "anonymous_id:shared-device")])
        parts = partition(conn)
        users = [p for p in parts if any(i.startswith("user_id:") for i in p)]
        assert len(users) == 5
        assert all(sum(i.startswith("user_id:") for i in p) == 1 for p in users)
        refused = conn.execute(
            select(func.count()).select_from(merge_log).where(merge_log.c.action == "reject")
        ).scalar()
        assert refused == 4
        check_invariants(conn)


def test_shared_anonymous_id_in_one_batch(engine):
    with engine.begin() as conn:
        result = resolve(conn, [rec(f"user_id:u{n}", "anonymous_id:shared") for n in range(5)])
        assert len(set(result.contact_ids)) == 5
        # The user_id limit refuses by default; the opt-in never_merge_on refuses first.
        assert {d.rule for d in result.decisions} == {"limit"}
        check_invariants(conn)


def test_shared_anonymous_id_in_one_batch_with_never_merge_on(engine):
    # Each user known before the kiosk: never_merge refuses; a user new in the kiosk's
    # record would join it as far as never_merge is concerned (the limit refuses then).
    rules = IdentityRules(never_merge_on=["anonymous_id"])
    with engine.begin() as conn:
        known = [rec(f"user_id:u{n}") for n in range(5)]
        records = [rec(f"user_id:u{n}", "anonymous_id:shared") for n in range(5)]
        result = resolve(conn, known + records, rules)
        assert len(set(result.contact_ids)) == 5
        assert {d.rule for d in result.decisions} == {"never_merge"}
        check_invariants(conn)


def test_shared_anonymous_id_hits_the_user_id_limit(engine):
    rules = IdentityRules(never_merge_on=[])
    with engine.begin() as conn:
        records = [rec(f"user_id:u{n}", "anonymous_id:shared") for n in range(5)]
        result = resolve(conn, records, rules)
        assert len(set(result.contact_ids)) == 5
        assert {d.rule for d in result.decisions} == {"limit"}
        assert all(d.identifier_type == "anonymous_id" for d in result.decisions)
        check_invariants(conn)


def test_e_mail_only_people_on_one_device_join_by_default(engine):
    # As in Segment Unify: no limit is hit (five e-mails are allowed), so they join.
    with engine.begin() as conn:
        resolve(conn, [rec("email:a@example.com", "anonymous_id:kiosk")])
        result = resolve(conn, [rec("email:b@example.com", "anonymous_id:kiosk")])
        assert result.decisions == []
        assert lookup(conn, ident("email:a@example.com")) == lookup(
            conn, ident("email:b@example.com")
        )


def test_never_merge_on_keeps_e_mail_only_people_on_one_device_apart(engine):
    # Opt-in: no limit is hit, yet two known people share a browser.
    rules = IdentityRules(never_merge_on=["anonymous_id"])
    with engine.begin() as conn:
        resolve(conn, [rec("email:a@example.com", "anonymous_id:kiosk")], rules)
        result = resolve(conn, [rec("email:b@example.com", "anonymous_id:kiosk")], rules)
        assert result.decisions == []  # b is new in this very record: it joins
        resolve(conn, [rec("email:c@example.com")], rules)
        result = resolve(conn, [rec("email:c@example.com", "anonymous_id:kiosk")], rules)
        assert result.decisions[0].rule == "never_merge"
        assert lookup(conn, ident("email:a@example.com")) != lookup(
            conn, ident("email:c@example.com")
        )


def test_anonymous_browsing_joins_the_person_who_logs_in(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:u1", "anonymous_id:laptop")])
        anon = resolve(conn, [rec("anonymous_id:phone")]).contact_ids[0]
        known = lookup(conn, ident("user_id:u1"))
        result = resolve(conn, [rec("user_id:u1", "anonymous_id:phone")])
        assert result.contact_ids == [min(known, anon)]
        assert [c.kind for c in result.changes] == ["merged"]
        assert live_contact_id(conn, anon) == live_contact_id(conn, known)


def test_blocked_values_never_link(engine):
    junk = [
        "email:test@test.com",
        "user_id:null",
        "user_id:undefined",
        "user_id:-1",
        "user_id:0",
        "anonymous_id:anonymous",
        "anonymous_id:00000000-0000-0000-0000-000000000000",
        "user_id:000-000",
    ]
    with engine.begin() as conn:
        records = [rec(f"email:p{n}@example.com", j) for n, j in enumerate(junk)]
        result = resolve(conn, records)
        assert result.ignored == len(junk)
        assert len(set(result.contact_ids)) == len(junk)
        for j in junk:
            assert lookup(conn, ident(j)) is None
        only_junk = resolve(conn, [rec("user_id:null", "email:test@test.com")])
        assert only_junk.contact_ids == [None]


def test_custom_blocked_values(engine):
    rules = IdentityRules(blocked_values=[r"^guest-\d+$"])
    with engine.begin() as conn:
        result = resolve(conn, [rec("user_id:guest-7", "email:x@example.com")], rules)
        assert result.ignored == 1


def test_transitive_chain_is_one_profile(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("anonymous_id:a1", "email:x@example.com")])
        resolve(conn, [rec("email:x@example.com", "phone:+14155550100")])
        resolve(conn, [rec("phone:+14155550100", "user_id:u9")])
        resolve(conn, [rec("user_id:u9", "anonymous_id:a2")])
        assert len(partition(conn)) == 1
        check_invariants(conn)


def test_email_and_phone_variants_resolve_alike(engine):
    with engine.begin() as conn:
        first = resolve(conn, [rec("email:Ada@Example.COM ", "phone:(415) 555-0100")])
        second = resolve(conn, [rec("email: ada@example.com"), rec("phone:+1 415 555 0100")])
        assert set(second.contact_ids) == set(first.contact_ids)
        assert len(partition(conn)) == 1


def test_three_way_merge_keeps_the_oldest_id(engine):
    with engine.begin() as conn:
        a = resolve(conn, [rec("email:a@example.com")]).contact_ids[0]
        b = resolve(conn, [rec("phone:+14155550101")]).contact_ids[0]
        c = resolve(conn, [rec("anonymous_id:dev-c")]).contact_ids[0]
        result = resolve(
            conn, [rec("email:a@example.com", "phone:+14155550101", "anonymous_id:dev-c")]
        )
        assert result.contact_ids == [a]
        (change,) = result.changes
        assert change.kind == "merged" and change.contact_id == a
        assert set(change.others) == {b, c}
        for old in (a, b, c):
            assert live_contact_id(conn, old) == a
        assert conn.execute(select(func.count()).select_from(profiles)).scalar() == 3
        check_invariants(conn)


def test_chained_redirects_stay_one_hop(engine):
    with engine.begin() as conn:
        a = resolve(conn, [rec("email:a@example.com")]).contact_ids[0]
        b = resolve(conn, [rec("email:b@example.com")]).contact_ids[0]
        c = resolve(conn, [rec("email:c@example.com")]).contact_ids[0]
        resolve(conn, [rec("email:b@example.com", "email:c@example.com")])
        resolve(conn, [rec("email:a@example.com", "email:b@example.com")])
        rows = dict(conn.execute(select(profiles.c.contact_id, profiles.c.merged_into)).all())
        assert rows == {a: None, b: a, c: a}


def test_replayed_records_are_idempotent(engine):
    records = [
        rec("user_id:u1", "anonymous_id:d1", "email:one@example.com"),
        rec("user_id:u2", "anonymous_id:d1"),
        rec("email:one@example.com", "phone:+14155550102"),
    ]
    with engine.begin() as conn:
        first = resolve(conn, records)
        before = partition(conn)
        log_rows = conn.execute(select(func.count()).select_from(merge_log)).scalar()
        again = resolve(conn, records)
        assert again.contact_ids == first.contact_ids
        assert again.changes == [] and again.decisions == []
        assert partition(conn) == before
        assert conn.execute(select(func.count()).select_from(merge_log)).scalar() == log_rows


def test_limit_drops_the_lowest_priority_identifier(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:u1", "email:shared@example.com")])
        result = resolve(
            conn, [rec("user_id:u2", "email:shared@example.com", "phone:+14155550103")]
        )
        (decision,) = result.decisions
        assert decision.rule == "limit" and decision.identifier_type == "email"
        mine = lookup(conn, ident("phone:+14155550103"))
        assert mine == lookup(conn, ident("user_id:u2")) == result.contact_ids[0]
        assert lookup(conn, ident("email:shared@example.com")) == lookup(conn, ident("user_id:u1"))


def test_email_limit(engine):
    with engine.begin() as conn:
        records = [rec("user_id:u1", f"email:e{n}@example.com") for n in range(7)]
        resolve(conn, records)
        parts = partition(conn)
        big = max(parts, key=len)
        assert sum(i.startswith("email:") for i in big) == 5
        assert len(parts) == 3
        check_invariants(conn)


def test_record_without_identifiers(engine):
    with engine.begin() as conn:
        assert resolve(conn, [rec()]).contact_ids == [None]


def test_a_refused_pair_accepted_later_becomes_active(engine):
    rules = IdentityRules(never_merge_on=[])
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:u1", "anonymous_id:d1")], rules)
        (refused,) = resolve(conn, [rec("user_id:u2", "anonymous_id:d1")], rules).decisions
        assert refused.rule == "limit"
        unmerge(conn, rules, identifier=ident("user_id:u1"))  # d1 is free again
        resolve(conn, [rec("user_id:u2", "anonymous_id:d1")], rules)
        why = explain(conn, rules, ident("user_id:u2"), ident("anonymous_id:d1"))
        assert why.same_profile and len(why.path) == 1
        check_invariants(conn)
