"""The consent ledger: every decision appended, the current state derived from it
(latest recorded wins, a denial wins a tie), and the ledger follows a merge."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from spokehub.identity import Evidence, IdentityRules
from spokehub.identity.resolve import resolve_batch
from spokehub.profiles import profile_view, resolve_profiles, set_consent
from spokehub.profiles.consent import LedgerEntry, derive, history
from spokehub.profiles.tables import consents
from spokehub_contracts import Consent, Identifier

T0 = datetime(2024, 1, 1, tzinfo=UTC)
RULES = IdentityRules()


def _profile(conn, ident: str) -> str:
    ev = Evidence(f"r-{ident}", "web", T0, [Identifier.parse(ident)])
    (contact,) = resolve_batch(conn, RULES, [ev]).contact_ids
    return contact


def _c(granted: bool, at: datetime, source: str = "web", purpose: str = "email_marketing"):
    return Consent(purpose=purpose, granted=granted, source=source, recorded_at=at)


def test_every_decision_is_appended_and_the_latest_recorded_is_current(engine):
    with engine.begin() as conn:
        cid = _profile(conn, "email:ada@example.com")
        assert set_consent(conn, cid, _c(True, T0), evidence="msg-1")
        assert set_consent(conn, cid, _c(False, T0 + timedelta(hours=2), "klaviyo"), evidence="w1")
        # Decided in between, arrived last: kept in the history, changes nothing.
        assert not set_consent(conn, cid, _c(True, T0 + timedelta(hours=1), "shop"))
        view = profile_view(conn, cid, RULES)
    assert view.consents["email_marketing"].granted is False
    assert view.consents["email_marketing"].source == "klaviyo"
    assert [(e.granted, e.source, e.evidence) for e in view.consent_history] == [
        (True, "web", "msg-1"),
        (True, "shop", None),
        (False, "klaviyo", "w1"),
    ]


def test_a_denial_wins_a_tie_and_agreeing_entries_keep_the_first(engine):
    with engine.begin() as conn:
        cid = _profile(conn, "email:tie@example.com")
        set_consent(conn, cid, _c(True, T0, "a"))
        assert set_consent(conn, cid, _c(False, T0, "b"))
        assert not set_consent(conn, cid, _c(True, T0, "c"))
        assert not set_consent(conn, cid, _c(False, T0, "d"))
        row = conn.execute(select(consents.c.granted, consents.c.source)).one()
        assert tuple(row) == (False, "b")
        assert len(history(conn, cid)) == 4


def test_a_repeat_can_be_left_out_of_the_ledger(engine):
    with engine.begin() as conn:
        cid = _profile(conn, "email:rep@example.com")
        set_consent(conn, cid, _c(False, T0), repeats=False)
        assert not set_consent(conn, cid, _c(False, T0 + timedelta(1)), repeats=False)
        assert set_consent(conn, cid, _c(True, T0 + timedelta(2)), repeats=False)
        assert [e.granted for e in history(conn, cid)] == [False, True]


def test_the_ledger_follows_the_survivor_of_a_merge(engine):
    with engine.begin() as conn:
        a = _profile(conn, "email:m1@example.com")
        b = _profile(conn, "phone:+14155550199")
        set_consent(conn, a, _c(True, T0, "web"))
        set_consent(conn, b, _c(False, T0 + timedelta(hours=1), "sms", "sms_marketing"))
        set_consent(conn, b, _c(False, T0 + timedelta(hours=1), "esp"))
        ev = Evidence(
            "r-m",
            "web",
            T0,
            [Identifier.parse("email:m1@example.com"), Identifier.parse("phone:+14155550199")],
        )
        (survivor,) = resolve_profiles(conn, RULES, [ev]).contact_ids
        view = profile_view(conn, survivor, RULES)
    assert len(view.consent_history) == 3
    assert view.consents["email_marketing"].granted is False
    assert view.consents["sms_marketing"].granted is False
    derived = derive(
        LedgerEntry(e.purpose, e.granted, e.source, e.recorded_at, e.evidence, e.received_at)
        for e in view.consent_history
    )
    assert {p: (e.granted, e.source) for p, e in derived.items()} == {
        p: (c.granted, c.source) for p, c in view.consents.items()
    }


_decision = st.tuples(st.booleans(), st.integers(0, 5), st.sampled_from(["a", "b", "c"]))


_people = itertools.count()


# Each example takes a profile of its own, so the shared store is no shared state.
@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(_decision, min_size=1, max_size=12))
def test_the_current_state_is_what_the_ledger_derives(sqlite_engine, decisions):
    with sqlite_engine.begin() as conn:
        cid = _profile(conn, f"user_id:p{next(_people)}")
        for granted, hour, source in decisions:
            set_consent(conn, cid, _c(granted, T0 + timedelta(hours=hour), source))
        current = conn.execute(
            select(consents.c.granted, consents.c.source, consents.c.recorded_at).where(
                consents.c.contact_id == cid
            )
        ).one()
        derived = derive(history(conn, cid))["email_marketing"]
    assert (bool(current.granted), current.source) == (derived.granted, derived.source)


def test_profiles_show_prints_the_current_state_and_the_history(sqlite_engine, run_cli, tmp_path):
    url = str(sqlite_engine.url)
    (tmp_path / "spokehub.yaml").write_text(f"version: 1\nstore: {{url: '{url}'}}\n")
    with sqlite_engine.begin() as conn:
        cid = _profile(conn, "email:show@example.com")
        set_consent(conn, cid, _c(True, T0, "web"), evidence="msg-7")
        set_consent(
            conn, cid, _c(False, T0 + timedelta(days=1), "klaviyo-consent"), evidence="evt_9"
        )
    shown = run_cli("profiles", "show", "email:show@example.com")
    assert shown.returncode == 0, shown.stderr
    assert "consent history" in shown.stdout
    for text in ("msg-7", "evt_9", "klaviyo-consent", "email_marketing"):
        assert text in shown.stdout
