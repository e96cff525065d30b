"""Profiles: provenance, survivorship, consents, scores, memberships and the 360 view."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from spokehub.identity import Evidence, IdentityRules, TraitPolicy
from spokehub.identity.errors import UnknownIdentifier
from spokehub.identity.resolve import resolve_batch
from spokehub.profiles import (
    add_membership,
    apply_traits,
    end_membership,
    profile_view,
    resolve_profiles,
    set_consent,
    set_scores,
)
from spokehub_contracts import Consent, Identifier, Membership, ScoredTrait

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def rec(*ids: str) -> Evidence:
    return Evidence(f"r-{ids}", "web", T0, [Identifier.parse(i) for i in ids])


RULES = IdentityRules(
    survivorship={
        "plan": TraitPolicy(strategy="source_priority", sources=["billing", "crm"]),
        "signup_source": TraitPolicy(strategy="first"),
    }
)


def _new_profile(conn, *ids: str) -> str:
    (contact,) = resolve_batch(conn, RULES, [rec(*ids)]).contact_ids
    return contact


def test_traits_keep_provenance_and_survivorship(engine):
    with engine.begin() as conn:
        cid = _new_profile(conn, "email:ada@example.com")
        changed = apply_traits(
            conn,
            cid,
            {"first_name": "Ada", "plan": "free", "signup_source": "ads"},
            connection="crm",
            observed_at=T0,
            rules=RULES,
        )
        assert changed == {"first_name": "Ada", "plan": "free", "signup_source": "ads"}
        later = T0 + timedelta(days=1)
        changed = apply_traits(
            conn,
            cid,
            {"first_name": "Augusta", "plan": "trial", "signup_source": "shop"},
            connection="shop",
            observed_at=later,
            rules=RULES,
        )
        # latest wins for first_name; crm outranks shop for plan; the first source stays.
        assert changed == {"first_name": "Augusta"}
        apply_traits(conn, cid, {"plan": "pro"}, connection="billing", observed_at=T0, rules=RULES)
        view = profile_view(conn, cid, RULES)
        assert view.traits["first_name"].value == "Augusta"
        assert view.traits["first_name"].connection == "shop"
        assert view.traits["plan"].value == "pro"
        assert view.traits["plan"].connection == "billing"
        assert view.traits["signup_source"].value == "ads"
        assert view.traits["signup_source"].strategy == "first"


def test_an_old_observation_never_overwrites_a_newer_one(engine):
    with engine.begin() as conn:
        cid = _new_profile(conn, "email:late@example.com")
        new = T0 + timedelta(hours=2)
        apply_traits(conn, cid, {"city": "Berlin"}, connection="crm", observed_at=new, rules=RULES)
        changed = apply_traits(
            conn, cid, {"city": "Paris"}, connection="crm", observed_at=T0, rules=RULES
        )
        assert changed == {}
        assert profile_view(conn, cid, RULES).traits["city"].value == "Berlin"


def test_consent_latest_wins_and_denial_breaks_ties(engine):
    with engine.begin() as conn:
        cid = _new_profile(conn, "email:c@example.com")
        grant = Consent(purpose="email_marketing", granted=True, source="shop", recorded_at=T0)
        assert set_consent(conn, cid, grant)
        deny = Consent(purpose="email_marketing", granted=False, source="esp", recorded_at=T0)
        assert set_consent(conn, cid, deny)
        stale = Consent(
            purpose="email_marketing",
            granted=True,
            source="crm",
            recorded_at=T0 - timedelta(days=1),
        )
        assert not set_consent(conn, cid, stale)
        view = profile_view(conn, cid, RULES)
        assert view.consents["email_marketing"].granted is False
        assert view.consents["email_marketing"].source == "esp"


def test_scores_and_memberships(engine):
    with engine.begin() as conn:
        cid = _new_profile(conn, "email:b2b@example.com")
        set_scores(
            conn, cid, [ScoredTrait(name="churn_risk", value=0.7, model="churn", computed_at=T0)]
        )
        set_scores(
            conn,
            cid,
            [
                ScoredTrait(
                    name="churn_risk", value=0.1, model="churn", computed_at=T0 - timedelta(1)
                )
            ],
        )
        add_membership(
            conn, cid, Membership(account_id="acme", role="buyer", started_at=T0), connection="crm"
        )
        left = T0 + timedelta(days=300)
        assert end_membership(conn, cid, "acme", left) == 1
        add_membership(
            conn,
            cid,
            Membership(account_id="globex", role="cto", started_at=left),
            connection="crm",
        )
        view = profile_view(conn, cid, RULES)
        assert view.scores["churn_risk"].value == 0.7
        assert [(m.account_id, m.ended_at is not None) for m in view.memberships] == [
            ("acme", True),
            ("globex", False),
        ]


def test_merge_moves_profile_data_to_the_survivor(engine):
    with engine.begin() as conn:
        a = _new_profile(conn, "email:m1@example.com")
        b = _new_profile(conn, "phone:+14155550199")
        apply_traits(conn, a, {"city": "Oslo"}, connection="crm", observed_at=T0, rules=RULES)
        later = T0 + timedelta(hours=1)
        apply_traits(conn, b, {"city": "Rome"}, connection="crm", observed_at=later, rules=RULES)
        set_consent(conn, b, Consent(purpose="sms_marketing", granted=False, source="sms"))
        add_membership(conn, b, Membership(account_id="initech"), connection="crm")
        result = resolve_profiles(conn, RULES, [rec("email:m1@example.com", "phone:+14155550199")])
        assert result.contact_ids == [a]
        view = profile_view(conn, b, RULES)  # the absorbed ID redirects
        assert view.contact_id == a
        assert view.merged_ids == [b]
        assert view.traits["city"].value == "Rome"
        assert view.consents["sms_marketing"].granted is False
        assert [m.account_id for m in view.memberships] == ["initech"]
        assert {i.type for i in view.identifiers} == {"email", "phone"}
        assert view.events == [] and view.audiences == []


def test_unknown_contact_id(engine):
    with engine.begin() as conn, pytest.raises(UnknownIdentifier):
        profile_view(conn, "00000000-0000-7000-8000-000000000000", RULES)
