"""The whole profile as an ``upsert_person`` carries it.

Every upsert carries the profile as it stands after the record, not only what the record
changed: destinations upsert latest-wins, and a route that maps ``scores.churn_risk`` or
``consents.email_marketing`` must find them whatever record triggered the send (a track
call, a pulled row, an identity change). It names the person by every identifier the
profile holds, so a tool that matches on e-mail finds the person from a record that
carried only a user ID. Identifier traits go out normalized (the raw value stays in the
trait's provenance in the hub).
"""

from __future__ import annotations

from sqlalchemy import Connection, select

from spokehub_contracts import Identifier, ScoredTrait, UpsertPerson

from ..identity import IdentityRules
from ..identity.tables import identifiers as identifier_table
from ..profiles import resolved_traits
from ..profiles.tables import consents, scores
from ..store.driver_sql import utc
from .records import person_from_profile


def whole_person(
    conn: Connection, rules: IdentityRules, contact_id: str, item_id: str
) -> UpsertPerson:
    """An ``upsert_person`` of the live profile ``contact_id``: every identifier it holds,
    its current traits (after survivorship), every score and every consent decision."""
    traits = {name: t.value for name, t in resolved_traits(conn, contact_id, rules).items()}
    details: dict[str, ScoredTrait] = {}
    s = scores.c
    for r in conn.execute(
        select(s.name, s.value, s.model, s.computed_at).where(s.contact_id == contact_id)
    ):
        details[r.name] = ScoredTrait(
            name=r.name, value=r.value, model=r.model, computed_at=utc(r.computed_at)
        )
    c = consents.c
    decisions = {
        r.purpose: bool(r.granted)
        for r in conn.execute(select(c.purpose, c.granted).where(c.contact_id == contact_id))
    }
    return UpsertPerson(
        item_id=item_id,
        contact_id=contact_id,
        identifiers=profile_identifiers(conn, contact_id),
        person=person_from_profile(traits),
        scores={name: d.value for name, d in sorted(details.items())},
        score_details=dict(sorted(details.items())),
        consents=dict(sorted(decisions.items())),
    )


def profile_identifiers(conn: Connection, contact_id: str) -> tuple[Identifier, ...]:
    """The live profile's identifiers, by type and then in the order they were first seen."""
    i = identifier_table.c
    query = select(i.type, i.value).where(i.contact_id == contact_id).order_by(i.type, i.id)
    # Stored values are normalized already: no need to normalize them again.
    return tuple(Identifier.model_construct(type=t, value=v) for t, v in conn.execute(query))
