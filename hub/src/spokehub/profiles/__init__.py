"""Profiles: traits with per-field provenance and survivorship, consents, scores, accounts
and memberships, and the 360 view of one person."""

from .consent import set_consent
from .memberships import add_membership, end_membership, upsert_account
from .merge import merge_profile_data, resolve_profiles
from .scores import set_scores
from .traits import Observation, TraitValue, apply_traits, resolved_traits, survive
from .view import ProfileView, profile_view

__all__ = [
    "Observation",
    "ProfileView",
    "TraitValue",
    "add_membership",
    "apply_traits",
    "end_membership",
    "merge_profile_data",
    "profile_view",
    "resolve_profiles",
    "resolved_traits",
    "set_consent",
    "set_scores",
    "survive",
    "upsert_account",
]
