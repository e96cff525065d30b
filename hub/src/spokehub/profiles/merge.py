"""Moving profile data when identity merges profiles.

Identity resolution changes the identity tables only; :func:`resolve_profiles` runs it
and then moves the data of every absorbed profile, in the same transaction. Rows of an
absorbed profile move to the survivor; where both hold a row for the same key the
combined row keeps, per table:

- traits (per trait and connection): the later latest value and the earlier first value,
  so every survivorship policy sees the union of both histories;
- consents (per purpose): the later decision; on a tie, the denial (the careful choice);
  the absorbed profile's consent ledger follows it to the survivor, entry for entry, and
  a decision one side did not hold is reported so the tools hear it;
- scores (per name): the later computation;
- memberships: all of them (a person's history is never dropped).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, delete, select, update

from spokehub.identity import Evidence, IdentityRules, ResolveResult
from spokehub.identity.resolve import resolve_batch
from spokehub.store.driver_sql import chunks, utc

from .tables import consent_ledger, consents, memberships, scores, traits


def _rows(conn: Connection, table: Any, contact_ids: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for part in chunks(contact_ids):
        out.extend(
            dict(r._mapping)
            for r in conn.execute(select(table).where(table.c.contact_id.in_(part)))
        )
    return out


def _merge_table(
    conn: Connection,
    table: Any,
    absorbed_to: Mapping[str, str],
    key: tuple[str, ...],
    combine: Any,
) -> None:
    absorbed_rows = _rows(conn, table, sorted(absorbed_to))
    if not absorbed_rows:
        return  # the common case: nothing to move
    survivors = sorted({absorbed_to[r["contact_id"]] for r in absorbed_rows})
    merged: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in [*_rows(conn, table, survivors), *absorbed_rows]:
        row["contact_id"] = absorbed_to.get(row["contact_id"], row["contact_id"])
        k = (row["contact_id"], *(row[c] for c in key))
        merged[k] = combine(merged[k], row) if k in merged else row
    for part in chunks([*survivors, *sorted(absorbed_to)]):
        conn.execute(delete(table).where(table.c.contact_id.in_(part)))
    conn.execute(table.insert(), list(merged.values()))


def _combine_traits(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    latest = a if utc(a["observed_at"]) >= utc(b["observed_at"]) else b
    first = a if utc(a["first_observed_at"]) <= utc(b["first_observed_at"]) else b
    return {
        **latest,
        "first_value": first["first_value"],
        "first_observed_at": first["first_observed_at"],
    }


def _combine_consents(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    ta, tb = utc(a["recorded_at"]), utc(b["recorded_at"])
    if ta != tb:
        return a if ta > tb else b
    return a if not a["granted"] else b


def _combine_scores(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    return a if utc(a["computed_at"]) >= utc(b["computed_at"]) else b


def _decisions(conn: Connection, contact_ids: list[str]) -> dict[tuple[str, str], bool]:
    c = consents.c
    found: dict[tuple[str, str], bool] = {}
    for part in chunks(contact_ids):
        for contact_id, purpose, granted in conn.execute(
            select(c.contact_id, c.purpose, c.granted).where(c.contact_id.in_(part))
        ):
            found[(contact_id, purpose)] = bool(granted)
    return found


def _survivor_of(absorbed_to: Mapping[str, str], contact_id: str) -> str:
    # Merged twice in one batch: the last survivor.
    seen = {contact_id}
    while contact_id in absorbed_to and absorbed_to[contact_id] not in seen:
        contact_id = absorbed_to[contact_id]
        seen.add(contact_id)
    return contact_id


def merge_profile_data(conn: Connection, absorbed_to: Mapping[str, str]) -> dict[str, set[str]]:
    """Move traits, consents (and their ledger), scores and memberships of each absorbed
    contact ID (key) to its survivor (value), combining clashing rows as the module
    docstring says.

    Returns, per survivor, the consent purposes whose merged decision one of the merged
    profiles did not hold (another's decision won; or a denial, where a profile held
    none): what the tools that knew that profile have not heard yet."""
    if not absorbed_to:
        return {}
    survivors = sorted(set(absorbed_to.values()) - set(absorbed_to))
    before = _decisions(conn, sorted({*absorbed_to, *survivors}))
    _merge_table(conn, traits, absorbed_to, ("name", "connection"), _combine_traits)
    _merge_table(conn, consents, absorbed_to, ("purpose",), _combine_consents)
    merged_from: dict[str, list[str]] = {}
    for absorbed in absorbed_to:
        merged_from.setdefault(_survivor_of(absorbed_to, absorbed), []).append(absorbed)
    changed: dict[str, set[str]] = {}
    for (survivor, purpose), granted in _decisions(conn, survivors).items():
        held = [before.get((c, purpose)) for c in [survivor, *merged_from[survivor]]]
        # A side that held another decision has tools to tell. A side with none is told
        # only of a denial (it must reach); a grant it never held is no news worth a job.
        if any(h is not None and h != granted for h in held) or (not granted and None in held):
            changed.setdefault(survivor, set()).add(purpose)
    _merge_table(conn, scores, absorbed_to, ("name",), _combine_scores)
    moves = [{"a": a, "s": s} for a, s in absorbed_to.items()]
    for table in (memberships, consent_ledger):
        conn.execute(
            update(table)
            .where(table.c.contact_id == bindparam("a"))
            .values(contact_id=bindparam("s")),
            moves,
        )
    return changed


def resolve_profiles(
    conn: Connection,
    rules: IdentityRules,
    records: Sequence[Evidence],
    consent_changed: dict[str, set[str]] | None = None,
) -> ResolveResult:
    """Resolve ``records`` (:func:`spokehub.identity.resolve_batch`) and move the data of
    every profile a merge absorbed to its survivor. Runs in the caller's transaction and
    never commits.

    :param consent_changed: filled with what :func:`merge_profile_data` returns (the
        survivors' consent purposes the merges changed), when given."""
    result = resolve_batch(conn, rules, records)
    changed = merge_profile_data(conn, result.absorbed())
    if consent_changed is not None:
        consent_changed.update(changed)
    return result
