"""The condition language of audiences and journeys, and its evaluation.

A condition is a small tree written in the project file::

    all:
      - event: Order Completed          # at least one order in the last 30 days
        within_days: 30
      - not: {consent: email_marketing, granted: false}
      - any:
          - {trait: plan, eq: enterprise}
          - {score: lifetime_value, gte: 500}
          - {account: acme}

Leaves test a trait, a model score, a consent decision, an open membership of an account
or the profile's events (how many, or the sum of a property, optionally within a window
of days); ``all``, ``any`` and ``not`` combine them. Evaluation is a pure function of a
:class:`Facts` snapshot and the current time, so it is tested (and property-tested)
without a store; :func:`dependencies` says which facts a condition reads, so the pipeline
re-evaluates only the audiences a profile change can move.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag

from spokehub_contracts import ConsentPurpose

Scalar = str | int | float | bool


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ValueTest(_Strict):
    """Tests on one value; all given must hold. None given means ``exists: true``.

    A value the profile does not have fails every test but ``exists: false``; an order
    test (``gt`` …) between a number and anything but a number fails (strings compare
    with strings, so ISO dates order as dates).
    """

    eq: Scalar | None = None
    ne: Scalar | None = None
    in_: list[Scalar] | None = Field(default=None, alias="in")
    gt: float | str | None = None
    gte: float | str | None = None
    lt: float | str | None = None
    lte: float | str | None = None
    contains: Scalar | None = None
    exists: bool | None = None

    def holds(self, present: bool, value: Any) -> bool:
        if not present:
            return self.exists is False
        if self.exists is False:
            return False
        if self.eq is not None and not _equal(value, self.eq):
            return False
        if self.ne is not None and _equal(value, self.ne):
            return False
        if self.in_ is not None and not any(_equal(value, v) for v in self.in_):
            return False
        for bound, ok in (
            (self.gt, lambda a, b: a > b),
            (self.gte, lambda a, b: a >= b),
            (self.lt, lambda a, b: a < b),
            (self.lte, lambda a, b: a <= b),
        ):
            if bound is not None and not _ordered(value, bound, ok):
                return False
        if self.contains is not None:
            if isinstance(value, list):
                return any(_equal(v, self.contains) for v in value)
            if isinstance(value, str) and isinstance(self.contains, str):
                return self.contains in value
            return False
        return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _equal(a: Any, b: Any) -> bool:
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    return type(a) is type(b) and a == b


def _ordered(value: Any, bound: Any, ok: Any) -> bool:
    if _is_number(value) and _is_number(bound):
        return bool(ok(value, bound))
    if isinstance(value, str) and isinstance(bound, str):
        return bool(ok(value, bound))
    return False


class TraitCondition(ValueTest):
    """A trait of the profile (after survivorship), by its stored name (``first_name``,
    ``plan``)."""

    trait: str = Field(min_length=1)


class ScoreCondition(ValueTest):
    """A model score or computed trait (``churn_risk``, ``lifetime_value``)."""

    score: str = Field(min_length=1)


class ConsentCondition(_Strict):
    """The profile's current decision for a purpose is ``granted`` (true: granted, false:
    denied). A profile with no decision for the purpose satisfies neither."""

    consent: ConsentPurpose
    granted: bool = True


class AccountCondition(_Strict):
    """An open (not ended) membership of the account ``account`` (``*``: of any account),
    with ``role`` when given."""

    account: str = Field(min_length=1)
    role: str | None = None


class Aggregate(_Strict):
    """A bound on a number: all given must hold."""

    gt: float | None = None
    gte: float | None = None
    lt: float | None = None
    lte: float | None = None
    eq: float | None = None

    def holds(self, n: float) -> bool:
        return (
            (self.gt is None or n > self.gt)
            and (self.gte is None or n >= self.gte)
            and (self.lt is None or n < self.lt)
            and (self.lte is None or n <= self.lte)
            and (self.eq is None or n == self.eq)
        )


class SumAggregate(Aggregate):
    """The sum of a numeric event property (values that are not numbers count 0)."""

    property: str = Field(min_length=1)


class EventCondition(_Strict):
    """The profile's track events named ``event``: how many (``count``, default at least
    one) and the sum of a property (``sum``), counting those with every property of
    ``properties`` equal, and only those of the last ``within_days`` days when given."""

    event: str = Field(min_length=1)
    within_days: float | None = Field(default=None, gt=0)
    properties: dict[str, Scalar] = Field(default_factory=dict)
    count: Aggregate | None = None
    sum: SumAggregate | None = None

    def window(self, now: datetime) -> datetime | None:
        """The earliest timestamp that counts, or ``None`` for all time."""
        return None if self.within_days is None else now - timedelta(days=self.within_days)


class AllOf(_Strict):
    all: list[Condition] = Field(min_length=1)


class AnyOf(_Strict):
    any: list[Condition] = Field(min_length=1)


class NotCondition(_Strict):
    not_: Condition = Field(alias="not")


#: The key that names each kind of condition, as written in the project file.
_KEYS = ("trait", "score", "consent", "account", "event", "all", "any", "not")


def _kind(value: Any) -> str | None:
    if isinstance(value, BaseModel):
        return {
            TraitCondition: "trait",
            ScoreCondition: "score",
            ConsentCondition: "consent",
            AccountCondition: "account",
            EventCondition: "event",
            AllOf: "all",
            AnyOf: "any",
            NotCondition: "not",
        }.get(type(value))
    if isinstance(value, Mapping):
        found = [k for k in _KEYS if k in value]
        return found[0] if len(found) == 1 else None
    return None


Condition = Annotated[
    Annotated[TraitCondition, Tag("trait")]
    | Annotated[ScoreCondition, Tag("score")]
    | Annotated[ConsentCondition, Tag("consent")]
    | Annotated[AccountCondition, Tag("account")]
    | Annotated[EventCondition, Tag("event")]
    | Annotated[AllOf, Tag("all")]
    | Annotated[AnyOf, Tag("any")]
    | Annotated[NotCondition, Tag("not")],
    Discriminator(
        _kind,
        custom_error_type="condition",
        custom_error_message=(
            "a condition names exactly one of trait, score, consent, account, event, "
            "all, any or not"
        ),
    ),
]

AllOf.model_rebuild()
AnyOf.model_rebuild()
NotCondition.model_rebuild()


# -- what a condition reads -----------------------------------------------------------


@dataclass(frozen=True)
class Dependencies:
    """The facts a condition reads: trait, score and event names, consent purposes,
    whether it reads memberships, and whether its truth can change with time alone."""

    traits: frozenset[str] = frozenset()
    scores: frozenset[str] = frozenset()
    consents: frozenset[str] = frozenset()
    events: frozenset[str] = frozenset()
    accounts: bool = False
    timed: bool = False

    def __or__(self, other: Dependencies) -> Dependencies:
        return Dependencies(
            self.traits | other.traits,
            self.scores | other.scores,
            self.consents | other.consents,
            self.events | other.events,
            self.accounts or other.accounts,
            self.timed or other.timed,
        )


def leaves(condition: Condition) -> Iterator[Condition]:
    """Every leaf of ``condition``."""
    if isinstance(condition, AllOf):
        for c in condition.all:
            yield from leaves(c)
    elif isinstance(condition, AnyOf):
        for c in condition.any:
            yield from leaves(c)
    elif isinstance(condition, NotCondition):
        yield from leaves(condition.not_)
    else:
        yield condition


def dependencies(condition: Condition) -> Dependencies:
    deps = Dependencies()
    for leaf in leaves(condition):
        if isinstance(leaf, TraitCondition):
            deps |= Dependencies(traits=frozenset({leaf.trait}))
        elif isinstance(leaf, ScoreCondition):
            deps |= Dependencies(scores=frozenset({leaf.score}))
        elif isinstance(leaf, ConsentCondition):
            deps |= Dependencies(consents=frozenset({leaf.consent.value}))
        elif isinstance(leaf, AccountCondition):
            deps |= Dependencies(accounts=True)
        elif isinstance(leaf, EventCondition):
            deps |= Dependencies(events=frozenset({leaf.event}), timed=leaf.within_days is not None)
    return deps


def windows(condition: Condition) -> dict[str, float | None]:
    """Per event name, the longest window any leaf reads (``None``: all time)."""
    out: dict[str, float | None] = {}
    for leaf in leaves(condition):
        if isinstance(leaf, EventCondition):
            widen(out, {leaf.event: leaf.within_days})
    return out


def edges(condition: Condition) -> dict[str, set[float]]:
    """Per event name, every window a leaf reads (all-time leaves have none): an event
    crosses an edge when it ages out of any one of them, not only the longest."""
    out: dict[str, set[float]] = {}
    for leaf in leaves(condition):
        if isinstance(leaf, EventCondition) and leaf.within_days is not None:
            out.setdefault(leaf.event, set()).add(leaf.within_days)
    return out


def widen(into: dict[str, float | None], more: Mapping[str, float | None]) -> None:
    """Merge windows per event name into ``into``, keeping the longest (``None``, all
    time, is longest)."""
    for event, days in more.items():
        if event in into and (into[event] is None or days is None):
            into[event] = None
        else:
            into[event] = days if event not in into else max(days or 0, into[event] or 0)


# -- evaluation -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventFact:
    timestamp: datetime
    properties: Mapping[str, Any]


@dataclass
class Facts:
    """What conditions read about one profile (only the parts they need are loaded)."""

    traits: dict[str, Any] = field(default_factory=dict)
    scores: dict[str, Any] = field(default_factory=dict)
    #: Current decision per purpose.
    consents: dict[str, bool] = field(default_factory=dict)
    #: Open memberships: ``(account_id, role)``.
    accounts: set[tuple[str, str | None]] = field(default_factory=set)
    #: Track events by name.
    events: dict[str, list[EventFact]] = field(default_factory=dict)


def evaluate(condition: Condition, facts: Facts, now: datetime) -> bool:
    """Whether ``condition`` holds for ``facts`` at ``now``."""
    if isinstance(condition, AllOf):
        return all(evaluate(c, facts, now) for c in condition.all)
    if isinstance(condition, AnyOf):
        return any(evaluate(c, facts, now) for c in condition.any)
    if isinstance(condition, NotCondition):
        return not evaluate(condition.not_, facts, now)
    if isinstance(condition, TraitCondition):
        return condition.holds(condition.trait in facts.traits, facts.traits.get(condition.trait))
    if isinstance(condition, ScoreCondition):
        return condition.holds(condition.score in facts.scores, facts.scores.get(condition.score))
    if isinstance(condition, ConsentCondition):
        return facts.consents.get(condition.consent.value) is condition.granted
    if isinstance(condition, AccountCondition):
        return any(
            (condition.account == "*" or account == condition.account)
            and (condition.role is None or role == condition.role)
            for account, role in facts.accounts
        )
    if isinstance(condition, EventCondition):
        return _events_hold(condition, facts.events.get(condition.event, ()), now)
    raise TypeError(f"not a condition: {type(condition).__name__}")


def _events_hold(condition: EventCondition, events: Any, now: datetime) -> bool:
    since = condition.window(now)
    n = 0
    total = 0.0
    prop = condition.sum.property if condition.sum is not None else None
    for e in events:
        if since is not None and e.timestamp <= since:
            continue
        if condition.properties and any(
            not _equal(e.properties.get(k), v) for k, v in condition.properties.items()
        ):
            continue
        n += 1
        if prop is not None:
            value = e.properties.get(prop)
            if _is_number(value):
                total += value
    if condition.count is None and condition.sum is None:
        return n >= 1
    if condition.count is not None and not condition.count.holds(n):
        return False
    return condition.sum is None or condition.sum.holds(total)
