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

from sqlalchemy import Connection

from spokehub_contracts import Identifier, ScoredTrait, UpsertPerson

from ..identity import IdentityRules
from ..profiles import resolved_traits
from ..profiles.traits import json_reader
from ..store.driver_sql import cursor
from .records import person_from_profile


def whole_person(
    conn: Connection, rules: IdentityRules, contact_id: str, item_id: str
) -> UpsertPerson:
    """An ``upsert_person`` of the live profile ``contact_id``: every identifier it holds,
    its current traits (after survivorship), every score and every consent decision."""
    # Driver SQL: every upsert of a person reads these (a few small indexed look-ups).
    traits = {name: t.value for name, t in resolved_traits(conn, contact_id, rules).items()}
    cur = cursor(conn)
    parse, load = cur.driver.parse, json_reader(cur.driver.postgres)
    details: dict[str, ScoredTrait] = {
        name: ScoredTrait(name=name, value=load(value), model=model, computed_at=parse(at))
        for name, value, model, at in cur.rows(
            "SELECT name, value, model, computed_at FROM scores WHERE contact_id = ?",
            (contact_id,),
        )
    }
    decisions = {
        purpose: bool(granted)
        for purpose, granted in cur.rows(
            "SELECT purpose, granted FROM consents WHERE contact_id = ?", (contact_id,)
        )
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
    found = cursor(conn).rows(
        "SELECT type, value FROM identifiers WHERE contact_id = ? ORDER BY type, id",
        (contact_id,),
    )
    # Stored values are normalized already: no need to normalize them again.
    return tuple(Identifier.model_construct(type=t, value=v) for t, v in found)
