"""A stand-in for the profile store's public functions, used only while that part is not
in this tree: the pipeline's tests then run against the real one unchanged."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest


def real_profiles_available() -> bool:
    try:
        from spokehub import profiles
    except ImportError:
        return False
    return all(
        hasattr(profiles, name)
        for name in ("apply_traits", "profile_view", "set_consent", "add_membership")
    )


def make_shim() -> SimpleNamespace:
    traits: dict[str, dict[str, Any]] = {}
    scores: dict[str, dict[str, Any]] = {}
    consents: dict[str, dict[str, Any]] = {}
    memberships: dict[str, list[Any]] = {}

    def apply_traits(conn, contact_id, values, *, connection, observed_at, rules):
        traits.setdefault(contact_id, {}).update(values)

    def profile_view(conn, contact_id, rules, **_):
        return {"traits": dict(traits.get(contact_id, {})), "scores": scores.get(contact_id, {})}

    def set_consent(conn, contact_id, consent):
        consents.setdefault(contact_id, {})[consent.purpose.value] = consent.granted

    def set_scores(conn, contact_id, items):
        for s in items:
            scores.setdefault(contact_id, {})[s.name] = s.value

    def add_membership(conn, contact_id, membership, *, connection):
        memberships.setdefault(contact_id, []).append(membership)

    def end_membership(conn, contact_id, account_id, ended_at):
        pass

    def upsert_account(conn, account):
        pass

    return SimpleNamespace(
        apply_traits=apply_traits,
        profile_view=profile_view,
        set_consent=set_consent,
        set_scores=set_scores,
        add_membership=add_membership,
        end_membership=end_membership,
        upsert_account=upsert_account,
        state=SimpleNamespace(traits=traits, scores=scores, consents=consents),
    )


@pytest.fixture
def profile_store(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The profile store's API: the real one when present, else the shim."""
    if real_profiles_available():
        from spokehub import profiles

        return profiles
    shim = make_shim()
    monkeypatch.setattr("spokehub.pipeline.profiles.profiles_api", lambda: shim)
    return shim
