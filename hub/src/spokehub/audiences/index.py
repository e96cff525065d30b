"""The project's audiences compiled for the pipeline: which audiences a profile change
can move, and what to load to decide them.

A change names what it touched on a profile (trait names, score names, consent purposes,
event names, memberships); only the audiences whose conditions read one of those are
evaluated again, so an event costs nothing for the audiences that cannot depend on it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .conditions import Dependencies, Facts, dependencies, evaluate, widen, windows
from .definitions import Audience
from .facts import Needs


@dataclass
class Touched:
    """What changed on one profile: ``everything`` after a merge folded another in."""

    traits: set[str] = field(default_factory=set)
    scores: set[str] = field(default_factory=set)
    consents: set[str] = field(default_factory=set)
    events: set[str] = field(default_factory=set)
    accounts: bool = False
    everything: bool = False

    def add(self, other: Touched) -> None:
        self.traits |= other.traits
        self.scores |= other.scores
        self.consents |= other.consents
        self.events |= other.events
        self.accounts = self.accounts or other.accounts
        self.everything = self.everything or other.everything


class AudienceIndex:
    """Audiences by the facts they read."""

    def __init__(self, audiences: Mapping[str, Audience]) -> None:
        self.audiences = dict(audiences)
        self.deps: dict[str, Dependencies] = {
            name: dependencies(a.where) for name, a in self.audiences.items()
        }
        self._by_trait: dict[str, set[str]] = {}
        self._by_score: dict[str, set[str]] = {}
        self._by_consent: dict[str, set[str]] = {}
        self._by_event: dict[str, set[str]] = {}
        self._on_accounts: set[str] = set()
        for name, deps in self.deps.items():
            for key, table in (
                (deps.traits, self._by_trait),
                (deps.scores, self._by_score),
                (deps.consents, self._by_consent),
                (deps.events, self._by_event),
            ):
                for k in key:
                    table.setdefault(k, set()).add(name)
            if deps.accounts:
                self._on_accounts.add(name)
        #: Audiences whose truth can change with time alone (an event window).
        self.timed = {name for name, deps in self.deps.items() if deps.timed}
        # A profile the batch created holds for these before anything is known about it
        # (``not: {event: Order Completed}``): whatever a change touched, they are
        # decided for it. An empty profile has no events, so any moment will do.
        empty, anytime = Facts(), datetime(2000, 1, 1, tzinfo=UTC)
        self._vacuous = {
            name for name, a in self.audiences.items() if evaluate(a.where, empty, anytime)
        }

    def __bool__(self) -> bool:
        return bool(self.audiences)

    def affected(self, touched: Touched) -> set[str]:
        """The audiences ``touched`` can move."""
        if touched.everything:
            return set(self.audiences)
        out = set(self._vacuous)
        for keys, table in (
            (touched.traits, self._by_trait),
            (touched.scores, self._by_score),
            (touched.consents, self._by_consent),
            (touched.events, self._by_event),
        ):
            for k in keys:
                found = table.get(k)
                if found:
                    out |= found
        if touched.accounts:
            out |= self._on_accounts
        return out

    def needs(self, names: Iterable[str]) -> Needs:
        """What to load to decide the audiences ``names``."""
        deps = Dependencies()
        wins: dict[str, float | None] = {}
        for name in names:
            deps |= self.deps[name]
            widen(wins, windows(self.audiences[name].where))
        return Needs(deps, wins)

    def decide(
        self, wanted: Mapping[str, Iterable[str]], facts: Mapping[str, Facts], now: datetime
    ) -> dict[tuple[str, str], bool]:
        """``{(audience, contact_id): member}`` for the audiences ``wanted`` per profile."""
        out: dict[tuple[str, str], bool] = {}
        for contact_id, names in wanted.items():
            f = facts.get(contact_id) or Facts()
            for name in names:
                out[(name, contact_id)] = evaluate(self.audiences[name].where, f, now)
        return out
