"""The default rules join what one record carries, as Segment Unify does; limits, blocked
values, the opt-in never_merge_on and aliases are the only things that keep apart."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from spokehub.identity import AliasPolicy, IdentityRules
from spokehub.identity.evidence import record_evidence
from spokehub.identity.lookup import lookup
from spokehub_contracts import Event, SourceRecord

from .helpers import T0, check_invariants, ident, partition, rec, resolve


def _same(conn, a: str, b: str) -> bool:
    return lookup(conn, ident(a)) == lookup(conn, ident(b))


def _alias(rules: IdentityRules, **message: str):
    event = Event.model_validate({"type": "alias", **message})
    record = SourceRecord(
        stream="alias",
        record_id="alias-1",
        identifiers=tuple(event.identifiers()),
        data=event,
        observed_at=T0 + timedelta(days=1),
    )
    return record_evidence(rules, "alias-1", "web", record)


def test_a_new_user_logging_in_on_a_known_device_joins_it(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("anonymous_id:A1", "email:chain@example.org")])
        resolve(conn, [rec("anonymous_id:B1", "email:chain@example.org")])
        result = resolve(conn, [rec("user_id:U1", "anonymous_id:B1")])
        assert result.decisions == []
        assert _same(conn, "user_id:U1", "anonymous_id:A1")


def test_a_known_user_logging_in_on_a_device_that_gave_an_e_mail_joins_it(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:old")])
        resolve(conn, [rec("anonymous_id:D", "email:d@example.org")])
        result = resolve(conn, [rec("user_id:old", "anonymous_id:D")])
        assert result.decisions == []
        assert _same(conn, "user_id:old", "email:d@example.org")


def test_never_merge_on_never_refuses_when_one_side_is_new_in_the_record(engine):
    rules = IdentityRules(never_merge_on=["anonymous_id"])
    with engine.begin() as conn:
        resolve(conn, [rec("anonymous_id:A1", "email:chain@example.org")], rules)
        result = resolve(conn, [rec("user_id:U1", "anonymous_id:A1")], rules)
        assert result.decisions == []
        assert _same(conn, "user_id:U1", "email:chain@example.org")
        # Both sides known before the record: refused.
        resolve(conn, [rec("user_id:U2")], rules)
        resolve(conn, [rec("anonymous_id:D", "email:d@example.org")], rules)
        result = resolve(conn, [rec("user_id:U2", "anonymous_id:D")], rules)
        assert [d.rule for d in result.decisions] == ["never_merge"]
        assert not _same(conn, "user_id:U2", "email:d@example.org")


def test_two_user_ids_on_one_e_mail_stay_apart(engine):
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:U1", "email:family@example.org")])
        result = resolve(conn, [rec("user_id:U2", "email:family@example.org")])
        assert [(d.rule, d.identifier_type) for d in result.decisions] == [("limit", "email")]
        assert not _same(conn, "user_id:U1", "user_id:U2")
        check_invariants(conn)


def test_an_alias_joins_two_user_ids_past_the_limit(engine):
    rules = IdentityRules()
    with engine.begin() as conn:
        resolve(conn, [rec("user_id:old", "email:old@example.org")], rules)
        resolve(conn, [rec("user_id:new", "anonymous_id:X")], rules)
        result = resolve(conn, [_alias(rules, previousId="old", userId="new")], rules)
        assert result.decisions == []
        assert _same(conn, "user_id:old", "anonymous_id:X")
        # A profile past a limit by an alias still gains what has room (no user ID) and
        # refuses a third user ID.
        resolve(conn, [rec("anonymous_id:Y", "email:y@example.org")], rules)
        assert resolve(conn, [rec("user_id:new", "anonymous_id:Y")], rules).decisions == []
        refused = resolve(conn, [rec("user_id:third", "email:y@example.org")], rules)
        assert [d.rule for d in refused.decisions] == ["limit"]
        check_invariants(conn)


def test_an_alias_from_the_anonymous_id_takes_it_as_that_anonymous_id():
    evidence = _alias(IdentityRules(), previousId="anon-1", userId="u1", anonymousId="anon-1")
    assert evidence.asserted
    assert sorted(str(i) for i in evidence.identifiers) == ["anonymous_id:anon-1", "user_id:u1"]


def test_alias_typing_and_unify_reading_are_configurable():
    typed = IdentityRules(alias=AliasPolicy(previous_id="anonymous_id"))
    evidence = _alias(typed, previousId="p", userId="u1")
    assert sorted(str(i) for i in evidence.identifiers) == ["anonymous_id:p", "user_id:u1"]
    unify = IdentityRules(alias=AliasPolicy(merge=False))
    evidence = _alias(unify, previousId="p", userId="u1")
    assert not evidence.asserted
    assert [str(i) for i in evidence.identifiers] == ["user_id:u1"]


def test_an_alias_still_honours_blocked_values(engine):
    rules = IdentityRules()
    with engine.begin() as conn:
        alias = _alias(rules, previousId="undefined", userId="u1")
        result = resolve(conn, [alias], rules)
        assert result.ignored == 1
        assert partition(conn) == {frozenset({"user_id:u1"})}


def test_a_record_carrying_two_new_user_ids_is_still_refused(engine):
    with engine.begin() as conn:
        result = resolve(conn, [rec("user_id:a", "user_id:b")])
        assert [d.rule for d in result.decisions] == ["limit"]
        # Asserted (an alias), the same record joins.
        joined = resolve(conn, [replace(rec("user_id:c", "user_id:d"), asserted=True)])
        assert joined.decisions == []
        assert _same(conn, "user_id:c", "user_id:d")
