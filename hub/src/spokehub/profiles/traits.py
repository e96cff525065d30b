"""Traits with per-field provenance and survivorship.

Each connection's observations of a trait are kept apart (latest and first value, with
their times); the profile's value is chosen at read time by the trait's policy, so every
value can say where it came from and a policy change needs no rewrite.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, select

from spokehub.identity import IdentityRules, TraitPolicy
from spokehub.store.driver_sql import dialect_insert, utc
from spokehub_contracts import ValidationFailed, normalize_identifier

from .tables import traits


@dataclass(frozen=True, slots=True)
class Observation:
    """What one connection reported for one trait: its latest and its first value."""

    connection: str
    value: Any
    observed_at: datetime
    first_value: Any
    first_observed_at: datetime


#: Traits that are identifiers too: their value is the identifier's normalized form (what
#: a CRM matches on and accepts), the value as the source sent it kept as ``raw``.
IDENTIFIER_TRAITS = frozenset({"email", "phone"})


@dataclass(frozen=True, slots=True)
class TraitValue:
    """A trait's surviving value and its provenance.

    ``raw`` is the value as the connection reported it, when the hub normalized it (an
    e-mail trait ``" Ada@Example.com"`` has the value ``"ada@example.com"``); else ``None``.
    """

    value: Any
    connection: str
    observed_at: datetime
    strategy: str
    raw: Any = None


def normalized(name: str, value: Any) -> Any:
    """``value`` of trait ``name`` as it goes out: identifier traits normalized as their
    identifiers are; a value that does not normalize (not an e-mail address) unchanged."""
    if name not in IDENTIFIER_TRAITS or not isinstance(value, str):
        return value
    try:
        return normalize_identifier(name, value)
    except ValidationFailed:
        return value


def survive(observations: Iterable[Observation], policy: TraitPolicy) -> TraitValue | None:
    """The value ``policy`` picks among ``observations`` (``None`` if there are none).

    Ties (same time, several connections) go to the alphabetically first connection, so
    the choice never depends on row order.
    """
    obs = list(observations)
    if not obs:
        return None
    if policy.strategy == "first":
        o = min(obs, key=lambda x: (x.first_observed_at, x.connection))
        return TraitValue(o.first_value, o.connection, o.first_observed_at, "first")
    if policy.strategy == "source_priority":
        by_connection = {o.connection: o for o in obs}
        for source in policy.sources:
            if source in by_connection:
                o = by_connection[source]
                return TraitValue(o.value, o.connection, o.observed_at, "source_priority")
    o = min(obs, key=lambda x: (-x.observed_at.timestamp(), x.connection))
    return TraitValue(o.value, o.connection, o.observed_at, "latest")


def observations(
    conn: Connection, contact_id: str, names: Iterable[str] | None = None
) -> dict[str, list[Observation]]:
    """Every connection's observations of the profile's traits (or only of ``names``)."""
    t = traits.c
    query = select(traits).where(t.contact_id == contact_id)
    if names is not None:
        query = query.where(t.name.in_(sorted(set(names))))
    out: dict[str, list[Observation]] = {}
    for r in conn.execute(query):
        out.setdefault(r.name, []).append(
            Observation(
                r.connection, r.value, utc(r.observed_at), r.first_value, utc(r.first_observed_at)
            )
        )
    return out


def resolved_traits(
    conn: Connection, contact_id: str, rules: IdentityRules, names: Iterable[str] | None = None
) -> dict[str, TraitValue]:
    """The profile's trait values after survivorship, with provenance; identifier traits
    normalized (:func:`normalized`), the value as observed kept in ``raw``."""
    out = {}
    for name, obs in observations(conn, contact_id, names).items():
        value = survive(obs, rules.policy_for(name))
        if value is None:
            continue
        clean = normalized(name, value.value)
        if clean != value.value:
            value = TraitValue(
                clean, value.connection, value.observed_at, value.strategy, raw=value.value
            )
        out[name] = value
    return out


def apply_traits(
    conn: Connection,
    contact_id: str,
    values: Mapping[str, Any],
    *,
    connection: str,
    observed_at: datetime,
    rules: IdentityRules,
) -> dict[str, Any]:
    """Record that ``connection`` observed these trait ``values`` at ``observed_at``.

    ``contact_id`` must be live (as returned by resolution). Out-of-order observations are
    safe: an older one never overwrites a newer latest value, and may become the first
    value. Values must be JSON-serializable. Returns the traits whose surviving value
    changed, with their new values (what destinations need to hear). Runs in the caller's
    transaction and never commits.
    """
    if not values:
        return {}
    at = utc(observed_at)
    before = resolved_traits(conn, contact_id, rules, values)
    stmt = dialect_insert(conn, traits)
    new, old = stmt.excluded, traits.c
    newer = new.observed_at >= old.observed_at
    older = new.first_observed_at < old.first_observed_at
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.contact_id, old.name, old.connection],
        set_={
            "value": case((newer, new.value), else_=old.value),
            "observed_at": case((newer, new.observed_at), else_=old.observed_at),
            "first_value": case((older, new.first_value), else_=old.first_value),
            "first_observed_at": case((older, new.first_observed_at), else_=old.first_observed_at),
        },
    )
    conn.execute(
        stmt,
        [
            {
                "contact_id": contact_id,
                "name": name,
                "connection": connection,
                "value": value,
                "observed_at": at,
                "first_value": value,
                "first_observed_at": at,
            }
            for name, value in sorted(values.items())
        ],
    )
    after = resolved_traits(conn, contact_id, rules, values)
    return {
        name: v.value
        for name, v in after.items()
        if name not in before or before[name].value != v.value
    }
