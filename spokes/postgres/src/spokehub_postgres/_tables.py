"""The warehouse's tables, and the rows a change becomes.

Table and column names follow the contracts' warehouse rules (the ones
``spokehub contract export`` writes), so a table created from the exported DDL and one
this spoke creates are the same table. Everything here is pure: the destination runs the
statements.
"""

from __future__ import annotations

from typing import Any

from spokehub_contracts import (
    ACCOUNTS_TABLE,
    EVENT_COLUMNS,
    PERSONS_TABLE,
    TRACKS_TABLE,
    Account,
    Person,
    warehouse_columns,
    warehouse_name,
)

IDENTIFIERS_TABLE = "identifiers"
SCORES_TABLE = "scores"
CONSENTS_TABLE = "consents"
MEMBERSHIPS_TABLE = "memberships"
AUDIENCES_TABLE = "audience_memberships"
MERGES_TABLE = "contact_merges"

#: The tables every warehouse has, as ``CREATE TABLE IF NOT EXISTS`` bodies ({s} is the
#: quoted schema). Traits and event properties are added as columns when first seen.
BASE_TABLES: dict[str, str] = {
    PERSONS_TABLE: "contact_id text PRIMARY KEY, updated_at timestamptz NOT NULL",
    ACCOUNTS_TABLE: "account_id text PRIMARY KEY, updated_at timestamptz NOT NULL",
    IDENTIFIERS_TABLE: (
        "type text NOT NULL, value text NOT NULL, contact_id text NOT NULL,"
        " updated_at timestamptz NOT NULL, PRIMARY KEY (type, value)"
    ),
    SCORES_TABLE: (
        "contact_id text NOT NULL, name text NOT NULL, value jsonb, model text,"
        " computed_at timestamptz, updated_at timestamptz NOT NULL,"
        " PRIMARY KEY (contact_id, name)"
    ),
    CONSENTS_TABLE: (
        "contact_id text NOT NULL, purpose text NOT NULL, granted boolean NOT NULL,"
        " updated_at timestamptz NOT NULL, PRIMARY KEY (contact_id, purpose)"
    ),
    MEMBERSHIPS_TABLE: (
        "contact_id text NOT NULL, account_id text NOT NULL, role text,"
        " started_at timestamptz, ended_at timestamptz, updated_at timestamptz NOT NULL,"
        " PRIMARY KEY (contact_id, account_id)"
    ),
    AUDIENCES_TABLE: (
        "contact_id text NOT NULL, audience text NOT NULL, in_audience boolean NOT NULL,"
        " entered_at timestamptz, exited_at timestamptz, updated_at timestamptz NOT NULL,"
        " PRIMARY KEY (contact_id, audience)"
    ),
    MERGES_TABLE: (
        "absorbed_contact_id text PRIMARY KEY, contact_id text NOT NULL,"
        " merged_at timestamptz NOT NULL"
    ),
    TRACKS_TABLE: (
        "id text PRIMARY KEY, contact_id text, user_id text, anonymous_id text, event text,"
        ' "timestamp" timestamptz NOT NULL, received_at timestamptz, type text,'
        " properties jsonb, context jsonb"
    ),
}

#: Per-contact tables whose rows are keyed by the contact and one more column: on a merge,
#: the absorbed contact's rows move to the survivor where the survivor has none of its own.
PER_CONTACT_KEYS: dict[str, str] = {
    SCORES_TABLE: "name",
    CONSENTS_TABLE: "purpose",
    MEMBERSHIPS_TABLE: "account_id",
    AUDIENCES_TABLE: "audience",
}

#: Columns this spoke writes beyond what ``spokehub contract export`` declares, added to a
#: table the export made.
EXTRA_COLUMNS: dict[str, dict[str, str]] = {
    TRACKS_TABLE: {"type": "text", "properties": "jsonb", "context": "jsonb"},
}

#: The body of a per-event table: the event columns every event table starts with.
EVENT_TABLE = (
    "id text PRIMARY KEY, contact_id text, user_id text, anonymous_id text, event text,"
    ' "timestamp" timestamptz NOT NULL, received_at timestamptz'
)
assert tuple(c.split()[0].strip('"') for c in EVENT_TABLE.split(", ")) == EVENT_COLUMNS

#: Columns of the traits tables that no trait may take.
PERSON_KEYS = ("contact_id", "updated_at")
ACCOUNT_KEYS = ("account_id", "updated_at")


class Clash(ValueError):
    """Two keys of one object name the same column."""


def traits(obj: Person | Account, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """The object's traits by column: its schema fields under their own names, then its
    ``attributes`` by the warehouse rules. Unset traits are left out.

    :raises Clash: when an attribute names a column that a schema field, the table or
        another attribute holds (``Plan`` and ``plan``): which value the column should
        hold is a question for whoever sends them.
    """
    fields = obj.model_dump(exclude={"attributes", "account_id"})
    taken = (*keys, *fields)
    columns = warehouse_columns(obj.attributes, taken=taken)
    for key in sorted(set(obj.attributes) - set(columns)):
        column = warehouse_name(key)
        holder = next((k for k, c in columns.items() if c == column), None)
        who = (
            f"attribute {holder!r}"
            if holder
            else "the table itself"
            if column in keys
            else f"the field {column}"
        )
        raise Clash(f"{what}.attributes.{key}: names column {column}, which {who} holds")
    values = {name: value for name, value in fields.items() if value is not None}
    for key, column in columns.items():
        if obj.attributes[key] is not None:
            values[column] = obj.attributes[key]
    return values


def event_table(name: str | None) -> str | None:
    """The per-event table of a track event, or None: an event without a name, or one
    whose name is a table of the warehouse itself, lives in ``tracks`` alone."""
    if not name:
        return None
    table = warehouse_name(name)
    return None if table in BASE_TABLES else table


def property_columns(properties: dict[str, Any]) -> dict[str, str]:
    """The columns of a per-event table for ``properties``; a property that would take an
    event column or another property's column stays in ``tracks.properties`` alone."""
    return warehouse_columns(properties, taken=EVENT_COLUMNS)
