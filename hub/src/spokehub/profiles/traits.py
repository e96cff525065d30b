"""Traits with per-field provenance and survivorship.

Each connection's observations of a trait are kept apart (latest and first value, with
their times); the profile's value is chosen at read time by the trait's policy, so every
value can say where it came from and a policy change needs no rewrite.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection

from spokehub.identity import IdentityRules, TraitPolicy
from spokehub.store.driver_sql import chunks, cursor, json_text, marks, utc
from spokehub_contracts import ValidationFailed, normalize_identifier


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
    # Driver SQL: read on every upsert of a person.
    cur = cursor(conn)
    statement = _SELECT + " WHERE contact_id = ?"
    params: list[Any] = [contact_id]
    if names is not None:
        wanted = sorted(set(names))
        statement += f" AND name IN ({marks(len(wanted))})"
        params += wanted
    parse, load = cur.driver.parse, json_reader(cur.driver.postgres)
    out: dict[str, list[Observation]] = {}
    for _, name, connection, value, at, first_value, first_at in cur.rows(statement, params):
        out.setdefault(name, []).append(
            Observation(connection, load(value), parse(at), load(first_value), parse(first_at))
        )
    return out


def observations_of(
    conn: Connection, contact_ids: Iterable[str]
) -> dict[str, dict[str, list[Observation]]]:
    """:func:`observations` of several profiles at once (a batch's), by contact ID: one
    statement a slice of the parameter limit, not one a profile."""
    cur = cursor(conn)
    parse, load = cur.driver.parse, json_reader(cur.driver.postgres)
    out: dict[str, dict[str, list[Observation]]] = {}
    for part in chunks(sorted(set(contact_ids)), cur.driver.max_params):
        statement = f"{_SELECT} WHERE contact_id IN ({marks(len(part))})"
        for contact_id, name, connection, value, at, first_value, first_at in cur.rows(
            statement, part
        ):
            out.setdefault(contact_id, {}).setdefault(name, []).append(
                Observation(connection, load(value), parse(at), load(first_value), parse(first_at))
            )
    return out


_SELECT = (
    "SELECT contact_id, name, connection, value, observed_at, first_value, first_observed_at"
    " FROM traits"
)


def json_reader(postgres: bool) -> Callable[[Any], Any]:
    """How a JSON column read by driver SQL is decoded: psycopg hands it back decoded,
    sqlite3 as its text."""
    return _same if postgres else _loads


def _same(value: Any) -> Any:
    return value


def _loads(value: Any) -> Any:
    # A JSON column has numeric affinity on SQLite: a number comes back as one.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def resolved_traits(
    conn: Connection, contact_id: str, rules: IdentityRules, names: Iterable[str] | None = None
) -> dict[str, TraitValue]:
    """The profile's trait values after survivorship, with provenance; identifier traits
    normalized (:func:`normalized`), the value as observed kept in ``raw``."""
    return surviving(observations(conn, contact_id, names), rules)


def resolved_traits_of(
    conn: Connection, contact_ids: Iterable[str], rules: IdentityRules
) -> dict[str, dict[str, TraitValue]]:
    """:func:`resolved_traits` of several profiles, read at once; every contact ID asked
    for has an entry (empty when the profile holds no trait)."""
    wanted = list(contact_ids)
    found = observations_of(conn, wanted)
    return {c: surviving(found.get(c, {}), rules) for c in wanted}


def surviving(
    observed: Mapping[str, Iterable[Observation]], rules: IdentityRules
) -> dict[str, TraitValue]:
    """Each trait's surviving value among its ``observed`` observations (see
    :func:`resolved_traits`)."""
    out = {}
    for name, obs in observed.items():
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


_COLUMNS = (
    "contact_id",
    "name",
    "connection",
    "value",
    "observed_at",
    "first_value",
    "first_observed_at",
)
#: Out-of-order observations: an older one never overwrites the latest value, and may
#: become the first value.
_NEWER = "excluded.observed_at >= traits.observed_at"
_OLDER = "excluded.first_observed_at < traits.first_observed_at"
_KEEP_ORDER = (
    f"value = CASE WHEN {_NEWER} THEN excluded.value ELSE traits.value END",
    f"observed_at = CASE WHEN {_NEWER} THEN excluded.observed_at ELSE traits.observed_at END",
    f"first_value = CASE WHEN {_OLDER} THEN excluded.first_value ELSE traits.first_value END",
    "first_observed_at = CASE WHEN"
    f" {_OLDER} THEN excluded.first_observed_at ELSE traits.first_observed_at END",
)


def apply_traits(
    conn: Connection,
    contact_id: str,
    values: Mapping[str, Any],
    *,
    connection: str,
    observed_at: datetime,
    rules: IdentityRules,
    report: bool = True,
) -> dict[str, Any]:
    """Record that ``connection`` observed these trait ``values`` at ``observed_at``.

    ``contact_id`` must be live (as returned by resolution). Out-of-order observations are
    safe: an older one never overwrites a newer latest value, and may become the first
    value. Values must be JSON-serializable. Returns the traits whose surviving value
    changed, with their new values (what destinations need to hear); with ``report``
    false it returns nothing and reads nothing (the pipeline sends the whole profile
    instead, read once a batch). Runs in the caller's transaction and never commits.
    """
    if not values:
        return {}
    at = utc(observed_at)
    before = resolved_traits(conn, contact_id, rules, values) if report else {}
    cur = cursor(conn)
    stamp = cur.driver.stamp(at)
    cur.insert(
        "traits",
        _COLUMNS,
        [
            (contact_id, name, connection, text, stamp, text, stamp)
            for name, value in sorted(values.items())
            for text in (json_text(value),)
        ],
        conflict=("contact_id", "name", "connection"),
        update=_KEEP_ORDER,
    )
    if not report:
        return {}
    after = resolved_traits(conn, contact_id, rules, values)
    return {
        name: v.value
        for name, v in after.items()
        if name not in before or before[name].value != v.value
    }
