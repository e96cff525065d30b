"""The identity store: one central contact ID per person from an explainable, reversible
identifier graph (resolution, rules, explain, unmerge)."""

from .explain import Explanation, LinkStep, explain
from .resolve import (
    Decision,
    Evidence,
    ProfileChange,
    ResolveResult,
    live_contact_id,
    lookup,
    lookup_many,
    resolve_batch,
)
from .rules import IdentityRules, TraitPolicy
from .unmerge import UnmergeResult, unmerge

__all__ = [
    "Decision",
    "Evidence",
    "Explanation",
    "IdentityRules",
    "LinkStep",
    "ProfileChange",
    "ResolveResult",
    "TraitPolicy",
    "UnmergeResult",
    "explain",
    "live_contact_id",
    "lookup",
    "lookup_many",
    "resolve_batch",
    "unmerge",
]
