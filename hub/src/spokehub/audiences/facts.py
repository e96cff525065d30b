"""Loading what conditions read about a set of profiles, in a few set-based queries.

Only the facts some condition needs are read: the named traits (after survivorship),
scores and consents, open memberships when a condition asks for accounts, and the named
events within the longest window any condition reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Connection

from spokehub.identity import IdentityRules
from spokehub.profiles import Observation, survive
from spokehub.store.driver_sql import CHUNK, Cursor, chunks, cursor, marks
from spokehub_contracts import Identifier

from .conditions import Dependencies, EventFact, Facts


@dataclass(frozen=True)
class Needs:
    """What to load: the union of the conditions' :class:`Dependencies`, with the
    longest window per event name (``None``: all time)."""

    deps: Dependencies = field(default_factory=Dependencies)
    windows: dict[str, float | None] = field(default_factory=dict)


def load_facts(
    conn: Connection, contact_ids: Sequence[str], needs: Needs, rules: IdentityRules, now: datetime
) -> dict[str, Facts]:
    """Each profile's :class:`Facts`, as far as ``needs`` asks (every profile of
    ``contact_ids`` gets one, empty when the store holds nothing it needs)."""
    out = {c: Facts() for c in contact_ids}
    ids = sorted(out)
    deps = needs.deps
    # Driver SQL: this runs once per pipeline batch, where compiling Core statements
    # would cost as much as the reads.
    cur = cursor(conn)
    json = _reader(cur)
    for part in chunks(ids, CHUNK):
        who = marks(len(part))
        if deps.traits:
            _traits(cur, part, deps.traits, rules, out)
        if deps.scores:
            names = sorted(deps.scores)
            for c, name, value in cur.rows(
                f"SELECT contact_id, name, value FROM scores WHERE contact_id IN ({who})"
                f" AND name IN ({marks(len(names))})",
                (*part, *names),
            ):
                out[c].scores[name] = json(value)
        if deps.consents:
            purposes = sorted(deps.consents)
            for c, purpose, granted in cur.rows(
                f"SELECT contact_id, purpose, granted FROM consents WHERE contact_id IN ({who})"
                f" AND purpose IN ({marks(len(purposes))})",
                (*part, *purposes),
            ):
                out[c].consents[purpose] = bool(granted)
        if deps.accounts:
            for c, account, role in cur.rows(
                "SELECT contact_id, account_id, role FROM memberships"
                f" WHERE contact_id IN ({who}) AND ended_at IS NULL",
                part,
            ):
                out[c].accounts.add((account, role))
        if needs.windows:
            _events(cur, part, needs.windows, now, out)
    return out


def _reader(cur: Cursor) -> Any:
    """How a JSON column's value comes back: SQLite hands its text, psycopg the value
    (a JSON string as a ``str`` too, so the backend decides, not the type)."""
    if cur.driver.postgres:
        return _same
    return _parse_json


def _same(value: Any) -> Any:
    return value


def _parse_json(value: Any) -> Any:
    # A column declared JSON has numeric affinity in SQLite: the text of a number comes
    # back as the number.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def _traits(
    cur: Cursor,
    part: Sequence[str],
    names: frozenset[str],
    rules: IdentityRules,
    out: dict[str, Facts],
) -> None:
    wanted = sorted(names)
    parse, json = cur.driver.parse, _reader(cur)
    found: dict[tuple[str, str], list[Observation]] = {}
    for c, name, connection, value, observed, first, first_observed in cur.rows(
        "SELECT contact_id, name, connection, value, observed_at, first_value,"
        f" first_observed_at FROM traits WHERE contact_id IN ({marks(len(part))})"
        f" AND name IN ({marks(len(wanted))})",
        (*part, *wanted),
    ):
        found.setdefault((c, name), []).append(
            Observation(
                connection, json(value), parse(observed), json(first), parse(first_observed)
            )
        )
    for (contact_id, name), obs in found.items():
        value = survive(obs, rules.policy_for(name))
        if value is not None:
            out[contact_id].traits[name] = value.value


def _events(
    cur: Cursor,
    part: Sequence[str],
    windows: dict[str, float | None],
    now: datetime,
    out: dict[str, Facts],
) -> None:
    stamp, parse, json = cur.driver.stamp, cur.driver.parse, _reader(cur)
    unbounded = sorted(n for n, d in windows.items() if d is None)
    clauses: list[str] = []
    params: list[Any] = []
    if unbounded:
        clauses.append(f"event IN ({marks(len(unbounded))})")
        params.extend(unbounded)
    for name, days in sorted((n, d) for n, d in windows.items() if d is not None):
        clauses.append("(event = ? AND timestamp > ?)")
        params += [name, stamp(now - timedelta(days=days))]
    for c, name, timestamp, properties in cur.rows(
        "SELECT contact_id, event, timestamp, properties FROM events"
        f" WHERE contact_id IN ({marks(len(part))}) AND type = 'track'"
        f" AND ({' OR '.join(clauses)})",
        (*part, *params),
    ):
        props = json(properties)
        out[c].events.setdefault(name, []).append(
            EventFact(parse(timestamp), props if isinstance(props, dict) else {})
        )


def identifiers_of(
    conn: Connection, contact_ids: Sequence[str]
) -> dict[str, tuple[Identifier, ...]]:
    """Every identifier each profile holds, as destinations match people by them."""
    out: dict[str, list[Identifier]] = {c: [] for c in contact_ids}
    cur = cursor(conn)
    for part in chunks(sorted(out), CHUNK):
        for c, type_, value in cur.rows(
            "SELECT contact_id, type, value FROM identifiers"
            f" WHERE contact_id IN ({marks(len(part))}) ORDER BY id",
            part,
        ):
            # Stored values are normalized already.
            out[c].append(Identifier.model_construct(type=type_, value=value))
    return {c: tuple(ids) for c, ids in out.items()}
