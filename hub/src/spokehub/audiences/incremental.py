"""Membership kept current as profiles change, in the pipeline's transaction.

Only the audiences a change can move are decided again, for the profiles it touched;
the decisions that differ from the stored membership become transitions (see
:mod:`.membership`).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from spokehub.identity import IdentityRules

from .facts import load_facts
from .index import AudienceIndex, Touched
from .membership import current_members, record, transitions


def update_members(
    conn: Connection,
    index: AudienceIndex,
    rules: IdentityRules,
    touched: Mapping[str, Touched],
    now: datetime,
) -> int:
    """Decide the affected audiences of the ``touched`` profiles and record what moved;
    returns the outbox rows written."""
    wanted = {c: index.affected(t) for c, t in touched.items()}
    wanted = {c: names for c, names in wanted.items() if names}
    if not wanted:
        return 0
    names = set().union(*wanted.values())
    facts = load_facts(conn, sorted(wanted), index.needs(names), rules, now)
    decisions = index.decide(wanted, facts, now)
    members = current_members(conn, wanted, names)
    return record(conn, transitions(decisions, members), index.audiences, now)
