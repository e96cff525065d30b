"""The identity store: one central contact ID per person from an explainable, reversible
identifier graph (resolution, rules, explain, unmerge)."""

from .evidence import Evidence, IdentifierLike
from .explain import Explanation, LinkStep, explain
from .lookup import live_contact_id, lookup, lookup_many
from .outcome import Decision, ProfileChange, ResolveResult
from .resolve import resolve_batch
from .rules import IdentityRules, TraitPolicy
from .unmerge import UnmergeResult, unmerge

__all__ = [
    "Decision",
    "Evidence",
    "Explanation",
    "IdentifierLike",
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
