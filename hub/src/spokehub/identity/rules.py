"""Identity rules: the ``identity:`` section of ``spokehub.yaml``.

The defaults are meant to be safe on real traffic without configuration:

- **limits** per identifier type and profile: one ``user_id``, five e-mails, five phones,
  a hundred ``anonymous_id`` values (devices and browsers), ten of any other type.
  A merge that would break a limit does not happen: the lowest-priority identifier of the
  record that caused it loses its edge instead, and the decision is logged. This is what
  keeps one shared device (one ``anonymous_id`` seen with five different ``user_id``
  values) from fusing five people.
- **priority** of types, highest first. It decides which identifier of a record is dropped
  when a limit is hit, which part of a split keeps the contact ID, and the order in which a
  record's identifiers are considered. ``"*"`` stands for every type not listed.
- **blocked_values**: anchored, case-insensitive regular expressions matched against the
  normalized value, on top of the hub's ``DEFAULT_JUNK_PATTERNS`` (:mod:`.junk`). A blocked
  identifier is ignored by resolution: it never creates, links or merges anything.
- **never_merge_on**: types that can create a profile and attach to one, but never fuse
  two *anchored* profiles (profiles holding an identifier of some other type) on their own.
  The default, ``anonymous_id``, lets an anonymous browsing profile join the known person
  who logs in on that browser, yet keeps a shared browser from fusing two people who each
  have an e-mail or user ID, even when no limit would be hit.
- **survivorship**: per trait, which observation is the profile's value (``latest``,
  ``source_priority`` with a list of connections, or ``first``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from spokehub_contracts import check_identifier_type

from .junk import DEFAULT_JUNK_PATTERNS

#: Blocked values the project's rules add to the junk patterns by default.
DEFAULT_BLOCKED_VALUES: tuple[str, ...] = (
    r"^[0-]*$",
    r"^-1$",
    r"^(null|undefined|anonymous|none|nan|\[object object\])$",
    r"^test@test\.com$",
    r"^00000000-0000-0000-0000-000000000000$",
)

DEFAULT_LIMITS: dict[str, int] = {"user_id": 1, "email": 5, "phone": 5, "anonymous_id": 100}
DEFAULT_PRIORITY: tuple[str, ...] = ("user_id", "email", "phone", "*", "anonymous_id")


@dataclass(frozen=True, slots=True)
class CompiledRules:
    """Lookup tables derived from :class:`IdentityRules` (``star``: rank of unlisted types)."""

    blocked: re.Pattern[str]
    ranks: dict[str, int]
    star: int


class TraitPolicy(BaseModel):
    """How one trait's value is chosen among the observations of several connections.

    ``latest``: the most recent observation wins. ``first``: the earliest observation ever
    made wins. ``source_priority``: the latest value from the first connection in
    ``sources`` that has one; connections not listed fall back to ``latest``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    strategy: Literal["latest", "source_priority", "first"] = "latest"
    sources: list[str] = Field(default_factory=list)


class IdentityRules(BaseModel):
    """The identity resolution rules (``identity:`` in ``spokehub.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_LIMITS),
        description="most identifiers of a type one profile may hold",
    )
    default_limit: int = Field(default=10, ge=1, description="limit for types not in limits")
    priority: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PRIORITY),
        description="identifier types, highest priority first; '*' places unlisted types",
    )
    blocked_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_VALUES),
        description="anchored regexes of values that never identify anyone",
    )
    never_merge_on: list[str] = Field(
        default_factory=lambda: ["anonymous_id"],
        description="types that never fuse two anchored profiles on their own",
    )
    survivorship: dict[str, TraitPolicy] = Field(
        default_factory=dict, description="per-trait survivorship policy"
    )
    default_survivorship: TraitPolicy = Field(default_factory=TraitPolicy)

    _compiled: CompiledRules = PrivateAttr()

    @field_validator("limits")
    @classmethod
    def _limits_valid(cls, value: dict[str, int]) -> dict[str, int]:
        for type_, limit in value.items():
            check_identifier_type(type_)
            if limit < 1:
                raise ValueError(f"limit for {type_} must be at least 1")
        return value

    @field_validator("priority")
    @classmethod
    def _priority_valid(cls, value: list[str]) -> list[str]:
        if len(set(value)) != len(value):
            raise ValueError("priority lists a type twice")
        for type_ in value:
            if type_ != "*":
                check_identifier_type(type_)
        return value

    @field_validator("never_merge_on")
    @classmethod
    def _types_valid(cls, value: list[str]) -> list[str]:
        for type_ in value:
            check_identifier_type(type_)
        return value

    @field_validator("blocked_values")
    @classmethod
    def _patterns_compile(cls, value: list[str]) -> list[str]:
        for pattern in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(
                    f"blocked value pattern {pattern!r} is not a regex: {exc}"
                ) from None
        return value

    def model_post_init(self, _context: object) -> None:
        patterns = [*DEFAULT_JUNK_PATTERNS, *self.blocked_values]
        # One alternation: resolution checks every identifier of every record.
        ranks = {t: i for i, t in enumerate(self.priority)}
        self._compiled = CompiledRules(
            blocked=re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE),
            ranks=ranks,
            star=ranks.get("*", len(self.priority)),
        )

    def compiled(self) -> CompiledRules:
        """The rules as plain lookup tables, for hot loops."""
        return self._compiled

    def limit_for(self, type_: str) -> int:
        """Most identifiers of ``type_`` one profile may hold."""
        return self.limits.get(type_, self.default_limit)

    def rank(self, type_: str) -> int:
        """Priority rank of ``type_``: lower is higher priority."""
        c = self._compiled
        return c.ranks.get(type_, c.star)

    def is_blocked(self, value: str) -> bool:
        """True if the normalized ``value`` must never identify anyone."""
        return self._compiled.blocked.match(value) is not None

    def policy_for(self, trait: str) -> TraitPolicy:
        """The survivorship policy of ``trait``."""
        return self.survivorship.get(trait, self.default_survivorship)
