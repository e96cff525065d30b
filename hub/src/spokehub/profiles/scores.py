"""Scored traits: values computed by models (churn risk, LTV, recommendations)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection

from spokehub.store.driver_sql import dialect_insert, utc
from spokehub_contracts import ScoredTrait

from .tables import scores


def set_scores(conn: Connection, contact_id: str, values: Sequence[ScoredTrait]) -> None:
    """Store model scores for the live profile ``contact_id``; per name, the latest
    ``computed_at`` wins (a late, older computation is ignored). Never commits."""
    if not values:
        return
    stmt = dialect_insert(conn, scores)
    new, old = stmt.excluded, scores.c
    stmt = stmt.on_conflict_do_update(
        index_elements=[old.contact_id, old.name],
        set_={"value": new.value, "model": new.model, "computed_at": new.computed_at},
        where=new.computed_at >= old.computed_at,
    )
    conn.execute(
        stmt,
        [
            {
                "contact_id": contact_id,
                "name": s.name,
                "value": s.value,
                "model": s.model,
                "computed_at": utc(s.computed_at),
            }
            for s in values
        ],
    )
