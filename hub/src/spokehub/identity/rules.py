"""Identity rules: the ``identity:`` section of ``spokehub.yaml``.

The defaults follow Segment Unify's identity resolution: the identifiers one record
carries join into one profile unless a per-type limit or a blocked value stops them.

- **limits** per identifier type and profile. ``user_id`` 1: a user ID is the sender's
  own key for one person, so two of them in one profile are two people joined by mistake
  (a shared device, a shared family e-mail); this is what keeps a shared kiosk's five users
  five profiles. ``email`` 5 and ``phone`` 5 (and 5 for any type not listed): people do
  have a few addresses and numbers (work, private, old), a profile with more is almost
  always a shared inbox or a support desk's number. ``anonymous_id`` 100: anonymous IDs
  accumulate across devices, browsers and cookie resets for as long as a person is a
  customer (Unify counts five a week; the hub keeps no windows, so a lifetime's worth).
  A link that would give a profile more identifiers of a type than its limit, and more
  than any of the profiles it joins holds already, does not happen: the lowest-priority
  identifier of the record that caused it loses its edge instead, and the decision is
  logged.
- **priority** of types, highest first (Unify's order: ``user_id``, then ``email``, then
  the rest, with ``anonymous_id`` last). It decides which identifier of a record loses its
  edge when a limit is hit, which part of a split keeps the contact ID, and the order in
  which a record's identifiers are considered. ``"*"`` stands for every type not listed.
- **blocked_values**: anchored, case-insensitive regular expressions matched against the
  normalized value, on top of the hub's ``DEFAULT_JUNK_PATTERNS`` (:mod:`.junk`). A blocked
  identifier is ignored by resolution: it never creates, links or merges anything.
- **never_merge_on** (opt-in, empty by default): types whose identifiers never fuse two
  profiles that existed before the record and that each hold an identifier of another type
  (are *anchored*). An identifier new in the record never counts as a side: with
  ``[anonymous_id]``, ``{userId: U1, anonymousId: B1}`` joins B1's profile when U1 is new,
  and is refused when U1 already has a profile of its own and B1's profile holds an e-mail.
- **alias** (:class:`AliasPolicy`): what an ``alias`` call does.
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
DEFAULT_LIMIT = 5
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


class AliasPolicy(BaseModel):
    """What an ``alias`` call (``previousId`` → ``userId``) does.

    ``merge`` (default, as RudderStack and most destinations read an alias): the sender
    states that both IDs are one person, so the record's identifiers join without the
    limits (blocked values and an operator's unmerge still hold). ``previousId`` is typed
    as ``previous_id`` says (``user_id`` by default: the SDKs send the former user ID, and
    fall back to the anonymous ID, which the same message then carries as its
    ``anonymousId``; a ``previousId`` equal to it is taken as that anonymous ID).
    ``merge: false`` reads aliases as Segment Unify does: ``previousId`` is no identifier
    and the call links only what any other message would.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    merge: bool = True
    previous_id: Literal["user_id", "anonymous_id"] = "user_id"


class IdentityRules(BaseModel):
    """The identity resolution rules (``identity:`` in ``spokehub.yaml``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_LIMITS),
        description="most identifiers of a type one profile may hold",
    )
    default_limit: int = Field(
        default=DEFAULT_LIMIT, ge=1, description="limit for types not in limits"
    )
    priority: list[str] = Field(
        default_factory=lambda: list(DEFAULT_PRIORITY),
        description="identifier types, highest priority first; '*' places unlisted types",
    )
    blocked_values: list[str] = Field(
        default_factory=lambda: list(DEFAULT_BLOCKED_VALUES),
        description="anchored regexes of values that never identify anyone",
    )
    never_merge_on: list[str] = Field(
        default_factory=list,
        description="types that never fuse two known anchored profiles on their own (opt-in)",
    )
    alias: AliasPolicy = Field(default_factory=AliasPolicy, description="what an alias call links")
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
