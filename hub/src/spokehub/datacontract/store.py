"""The contract's state in the store: the live (published) version and violation counts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Engine, func, insert, select

from ..store.driver_sql import cursor, transaction, utcnow
from ..store.tables import contract_versions, contract_violations
from .check import Verdict
from .diff import ContractChange, diff
from .spec import EffectiveContract


class BreakingChange(Exception):
    """The project's contract breaks the live one and ``allow_breaking`` was not given."""

    def __init__(self, changes: list[ContractChange]) -> None:
        self.changes = changes
        super().__init__(
            f"{len(changes)} breaking change(s) to the live contract; review them with "
            "'spokehub contract diff' and publish with 'spokehub contract publish --allow-breaking'"
        )


def live_contract(conn: Connection) -> EffectiveContract | None:
    row = conn.execute(
        select(contract_versions.c.spec).order_by(contract_versions.c.id.desc()).limit(1)
    ).first()
    return None if row is None else EffectiveContract.model_validate_json(row.spec)


def publish(
    engine: Engine, contract: EffectiveContract, *, allow_breaking: bool = False
) -> list[ContractChange]:
    """Make ``contract`` the live one. Additive changes publish on their own; breaking
    changes need ``allow_breaking``. Returns the changes (empty when nothing changed)."""
    with transaction(engine) as conn:
        current = live_contract(conn)
        changes = [] if current is None else diff(current, contract)
        if current is not None and not changes and current == contract:
            return []
        breaking = [c for c in changes if c.severity == "breaking"]
        if breaking and not allow_breaking:
            raise BreakingChange(breaking)
        conn.execute(
            insert(contract_versions).values(
                spec=contract.model_dump_json(),
                version=str(contract.version) if contract.version is not None else None,
                breaking=bool(breaking),
                published_at=datetime.now(UTC),
            )
        )
        return changes or [ContractChange("additive", "contract", "first publication")]


def record_violations(conn: Connection, connection: str, verdicts: Iterable[Verdict]) -> None:
    """Add the verdicts' violations (and dropped traits) to the per-source counters."""
    counts: dict[tuple[str, str, str, str, str], int] = {}
    for v in verdicts:
        event = v.event or ""
        outcome = v.action if v.violations else "accept"
        for violation in v.violations:
            key = (connection, event, violation.field, violation.rule, f"{v.mode}:{outcome}")
            counts[key] = counts.get(key, 0) + 1
        for trait in v.dropped_traits:
            key = (connection, event, f"traits.{trait}", "trait is not declared", "dropped")
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        return
    cur = cursor(conn)
    at = cur.driver.stamp(utcnow())
    # One upsert per counter: two pipeline processes counting the same violation at once
    # add up instead of racing to insert it.
    cur.insert(
        "contract_violations",
        (*_COUNTER_KEY, "count", "last_seen"),
        [(*key, n, at) for key, n in counts.items()],
        conflict=_COUNTER_KEY,
        update=("count = contract_violations.count + excluded.count", "last_seen"),
    )


#: The key of a violation counter.
_COUNTER_KEY = ("connection", "event", "field", "rule", "outcome")


def violation_report(conn: Connection) -> list[dict[str, Any]]:
    t = contract_violations
    rows = conn.execute(
        select(
            t.c.connection, t.c.event, t.c.field, t.c.rule, t.c.outcome, t.c.count, t.c.last_seen
        ).order_by(t.c.connection, t.c.event, t.c.field)
    ).mappings()
    return [dict(r) for r in rows]


def violation_totals(conn: Connection) -> dict[tuple[str, str, str], int]:
    """Counts per (source, event, rule) for /metrics."""
    t = contract_violations
    rows = conn.execute(
        select(t.c.connection, t.c.event, t.c.rule, func.sum(t.c.count)).group_by(
            t.c.connection, t.c.event, t.c.rule
        )
    )
    return {(r[0], r[1], r[2]): int(r[3]) for r in rows}


def dumps(value: Any) -> str:
    return orjson.dumps(value).decode()
