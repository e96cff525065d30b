"""The whole profile as an ``upsert_person`` carries it.

Every upsert carries the profile as it stands after the record's batch (see
:class:`PersonUpsert`), not only what the record changed: destinations upsert
latest-wins, and a route that maps ``scores.churn_risk`` or ``consents.email_marketing``
must find them whatever record triggered the send (a track call, a pulled row, an
identity change). It names the person by every identifier the profile holds, so a tool
that matches on e-mail finds the person from a record that carried only a user ID.
Identifier traits go out normalized (the raw value stays in the trait's provenance in
the hub).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import Connection

from spokehub_contracts import Identifier, ScoredTrait, UpsertPerson

from ..identity import IdentityRules
from ..profiles.traits import json_reader, resolved_traits_of
from ..store.driver_sql import chunks, cursor, marks
from .records import person_from_profile


@dataclass(frozen=True, slots=True)
class PersonUpsert:
    """An ``upsert_person`` a record calls for, built at the end of its batch
    (:func:`complete`): from the profile as the whole batch left it, and only where some
    destination takes it, with the reads of every such profile made once a batch."""

    item_id: str
    contact_id: str
    kind: Literal["upsert_person"] = "upsert_person"


def whole_person(
    conn: Connection, rules: IdentityRules, contact_id: str, item_id: str
) -> UpsertPerson:
    """An ``upsert_person`` of the live profile ``contact_id``: every identifier it holds,
    its current traits (after survivorship), every score and every consent decision."""
    return _upsert(item_id, contact_id, whole_people(conn, rules, [contact_id])[contact_id])


def complete(
    conn: Connection, rules: IdentityRules, upserts: Iterable[PersonUpsert]
) -> dict[str, UpsertPerson]:
    """The ``upsert_person`` changes of ``upserts`` (by item ID), their profiles read at
    once."""
    wanted = list(upserts)
    people = whole_people(conn, rules, {u.contact_id for u in wanted})
    return {u.item_id: _upsert(u.item_id, u.contact_id, people[u.contact_id]) for u in wanted}


def _upsert(item_id: str, contact_id: str, fields: dict[str, Any]) -> UpsertPerson:
    return UpsertPerson(item_id=item_id, contact_id=contact_id, **fields)


def whole_people(
    conn: Connection, rules: IdentityRules, contact_ids: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """What an ``upsert_person`` of each live profile carries besides its item ID: its
    identifiers, person (traits after survivorship), scores and consents; read with one
    statement a table for all of them."""
    # Driver SQL, a whole batch's profiles at once: every upsert of a person reads these.
    wanted = sorted(set(contact_ids))
    traits = resolved_traits_of(conn, wanted, rules)
    cur = cursor(conn)
    parse, load = cur.driver.parse, json_reader(cur.driver.postgres)
    details: dict[str, dict[str, ScoredTrait]] = {c: {} for c in wanted}
    decisions: dict[str, dict[str, bool]] = {c: {} for c in wanted}
    identifiers: dict[str, list[Identifier]] = {c: [] for c in wanted}
    for part in chunks(wanted, cur.driver.max_params):
        among = f"contact_id IN ({marks(len(part))})"
        for contact_id, name, value, model, at in cur.rows(
            f"SELECT contact_id, name, value, model, computed_at FROM scores WHERE {among}",
            part,
        ):
            details[contact_id][name] = ScoredTrait(
                name=name, value=load(value), model=model, computed_at=parse(at)
            )
        for contact_id, purpose, granted in cur.rows(
            f"SELECT contact_id, purpose, granted FROM consents WHERE {among}", part
        ):
            decisions[contact_id][purpose] = bool(granted)
        for contact_id, type_, value in cur.rows(
            f"SELECT contact_id, type, value FROM identifiers WHERE {among}"
            " ORDER BY contact_id, type, id",
            part,
        ):
            # Stored values are normalized already: no need to normalize them again.
            identifiers[contact_id].append(Identifier.trusted(type_, value))
    return {
        c: {
            "identifiers": tuple(identifiers[c]),
            "person": person_from_profile({n: t.value for n, t in traits[c].items()}),
            "scores": {name: d.value for name, d in sorted(details[c].items())},
            "score_details": dict(sorted(details[c].items())),
            "consents": dict(sorted(decisions[c].items())),
        }
        for c in wanted
    }


def profile_identifiers(conn: Connection, contact_id: str) -> tuple[Identifier, ...]:
    """The live profile's identifiers, by type and then in the order they were first seen."""
    found = cursor(conn).rows(
        "SELECT type, value FROM identifiers WHERE contact_id = ? ORDER BY type, id",
        (contact_id,),
    )
    # Stored values are normalized already: no need to normalize them again.
    return tuple(Identifier.trusted(t, v) for t, v in found)
