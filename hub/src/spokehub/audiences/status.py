"""What operators see of audiences: each one's definition, size and last reconcile, its
members, and a preview of who a definition selects now, without writing anything."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, Engine, func, select

from spokehub.identity import IdentityRules
from spokehub.identity.tables import profiles
from spokehub.store.driver_sql import transaction, utc

from .conditions import Condition, dependencies
from .definitions import Audience
from .facts import load_facts
from .index import AudienceIndex
from .tables import audience_members, audience_state


class AudienceSummary(BaseModel):
    name: str
    description: str = ""
    to: list[str] = Field(default_factory=list)
    purpose: str | None = None
    members: int = 0
    time_based: bool = Field(
        default=False, description="membership can change with time alone (an event window)"
    )
    reconciled_at: datetime | None = None
    where: dict[str, Any] = Field(default_factory=dict)


class Member(BaseModel):
    contact_id: str
    entered_at: datetime


class AudienceDetail(AudienceSummary):
    recent_members: list[Member] = Field(default_factory=list)
    exited: int = 0


class Preview(BaseModel):
    """Who a definition selects now, counted over every live profile."""

    matching: int
    profiles: int
    sample: list[str] = Field(default_factory=list)


def _summary(name: str, audience: Audience) -> AudienceSummary:
    return AudienceSummary(
        name=name,
        description=audience.description,
        to=list(audience.to),
        purpose=audience.purpose.value if audience.purpose else None,
        time_based=dependencies(audience.where).timed,
        where=audience.where.model_dump(mode="json", by_alias=True, exclude_defaults=True),
    )


def member_counts(conn: Connection) -> dict[str, int]:
    """Open memberships per audience."""
    m = audience_members.c
    return {
        a: int(n)
        for a, n in conn.execute(
            select(m.audience, func.count()).where(m.exited_at.is_(None)).group_by(m.audience)
        )
    }


def summaries(engine: Engine, audiences: dict[str, Audience]) -> list[AudienceSummary]:
    """Every defined audience with its current size, by name."""
    with transaction(engine, readonly=True) as conn:
        sizes = member_counts(conn)
        state = {r.audience: utc(r.reconciled_at) for r in conn.execute(select(audience_state))}
    out = []
    for name, audience in sorted(audiences.items()):
        s = _summary(name, audience)
        s.members = int(sizes.get(name, 0))
        s.reconciled_at = state.get(name)
        out.append(s)
    return out


def detail(engine: Engine, name: str, audience: Audience, limit: int = 20) -> AudienceDetail:
    """One audience with its latest entrants (``limit``) and how many have left."""
    (base,) = [s for s in summaries(engine, {name: audience})]
    d = AudienceDetail(**base.model_dump())
    m = audience_members.c
    with transaction(engine, readonly=True) as conn:
        d.recent_members = [
            Member(contact_id=c, entered_at=utc(at))
            for c, at in conn.execute(
                select(m.contact_id, m.entered_at)
                .where(m.audience == name, m.exited_at.is_(None))
                .order_by(m.entered_at.desc(), m.contact_id)
                .limit(limit)
            )
        ]
        d.exited = int(
            conn.execute(
                select(func.count()).where(m.audience == name, m.exited_at.is_not(None))
            ).scalar_one()
        )
    return d


def preview(
    engine: Engine,
    where: Condition,
    rules: IdentityRules,
    now: datetime,
    sample: int = 10,
    chunk: int = 500,
) -> Preview:
    """Evaluate ``where`` for every live profile at ``now``; writes nothing."""
    index = AudienceIndex({"preview": Audience(where=where)})
    needs = index.needs(["preview"])
    matching, seen, found = 0, 0, []
    after = ""
    p = profiles.c
    while True:
        with transaction(engine, readonly=True) as conn:
            ids = list(
                conn.execute(
                    select(p.contact_id)
                    .where(p.contact_id > after, p.merged_into.is_(None))
                    .order_by(p.contact_id)
                    .limit(chunk)
                ).scalars()
            )
            if not ids:
                break
            facts = load_facts(conn, ids, needs, rules, now)
        decided = index.decide({c: ["preview"] for c in ids}, facts, now)
        for (_, contact), inside in decided.items():
            if inside:
                matching += 1
                if len(found) < sample:
                    found.append(contact)
        seen += len(ids)
        after = ids[-1]
    return Preview(matching=matching, profiles=seen, sample=sorted(found))
