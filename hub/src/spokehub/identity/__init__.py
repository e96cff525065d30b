"""The identity store: one central contact ID per person from an explainable, reversible
identifier graph.

This package exports the model alone (what resolution takes in and answers, and the
rules), which needs no database: the project file imports the rules from here, and
loading the store's machinery with them would slow every command that only reads the
project. The store-facing functions are imported from their modules:

- :func:`.resolve.resolve_batch`: records to contact IDs (``batch`` → ``load`` →
  ``decide`` → ``apply``);
- :func:`.lookup.lookup`, :func:`.lookup.lookup_many`, :func:`.lookup.live_contact_id`;
- :func:`.explain.explain` and :func:`.unmerge.unmerge`.
"""

from .errors import IdentityError, NoSuchEvidence, UnknownIdentifier
from .evidence import Evidence, IdentifierLike
from .outcome import Decision, ProfileChange, ResolveResult
from .rules import AliasPolicy, IdentityRules, TraitPolicy

__all__ = [
    "AliasPolicy",
    "Decision",
    "Evidence",
    "IdentifierLike",
    "IdentityError",
    "IdentityRules",
    "NoSuchEvidence",
    "ProfileChange",
    "ResolveResult",
    "TraitPolicy",
    "UnknownIdentifier",
]
