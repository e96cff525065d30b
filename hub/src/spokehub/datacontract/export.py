"""Exports of the contract: JSON Schema for client teams and CI, and the warehouse tables
the PostgreSQL destination creates, so BI and marketing read the same names."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.schema import CreateTable

from spokehub_contracts import (
    ACCOUNTS_TABLE,
    EVENT_COLUMNS,
    PERSONS_TABLE,
    TRACKS_TABLE,
    warehouse_columns,
    warehouse_name,
)

from .models import event_model, traits_model
from .spec import EffectiveContract, FieldSpec

JSON_SCHEMA_DRAFT = "https://json-schema.org/draft/2020-12/schema"


#: Segment's warehouse naming (``Order Completed`` → ``order_completed``), the contracts'
#: rule, which warehouse destinations follow too.
slug = warehouse_name


def _inline(schema: dict[str, Any]) -> dict[str, Any]:
    # Exported files must stand alone: resolve pydantic's local $defs.
    defs = schema.pop("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return walk(defs[ref.split("/")[-1]])
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(schema)


def _identity_rule() -> list[dict[str, Any]]:
    return [
        {"required": ["userId"], "properties": {"userId": {"type": ["string", "number"]}}},
        {
            "required": ["anonymousId"],
            "properties": {"anonymousId": {"type": ["string", "number"]}},
        },
    ]


def event_schema(contract: EffectiveContract, name: str) -> dict[str, Any]:
    """A JSON Schema for a whole Segment ``track`` message of event ``name``."""
    props = _inline(event_model(name, contract.events[name]).model_json_schema(by_alias=True))
    props.pop("title", None)
    return {
        "$schema": JSON_SCHEMA_DRAFT,
        "title": name,
        "description": contract.events[name].description or f"Segment track event {name!r}",
        "type": "object",
        "required": ["type", "event"],
        "properties": {
            "type": {"const": "track"},
            "event": {"const": name},
            "properties": props,
            "messageId": {"type": "string"},
            "timestamp": {"type": "string", "format": "date-time"},
        },
        "anyOf": _identity_rule(),
    }


def traits_schema(contract: EffectiveContract, kind: str) -> dict[str, Any]:
    """A JSON Schema for the traits of an ``identify`` (person) or ``group`` (account) call."""
    fields = contract.person_traits if kind == "person" else contract.account_traits
    schema = _inline(traits_model(kind, fields).model_json_schema(by_alias=True))
    schema["$schema"] = JSON_SCHEMA_DRAFT
    schema["title"] = f"{kind} traits"
    return schema


def all_schemas(contract: EffectiveContract) -> dict[str, dict[str, Any]]:
    """Every schema keyed by a relative file name (``events/order_completed.json``)."""
    files = {f"events/{slug(n)}.json": event_schema(contract, n) for n in sorted(contract.events)}
    files["traits/person.json"] = traits_schema(contract, "person")
    files["traits/account.json"] = traits_schema(contract, "account")
    return files


_COLUMN_TYPES: dict[str, Any] = {
    "string": Text,
    "email": Text,
    "number": Float,
    "integer": BigInteger,
    "boolean": Boolean,
    "datetime": lambda: DateTime(timezone=True),
    "object": JSON,
    "array": JSON,
}


def _columns(fields: dict[str, FieldSpec], taken: Iterable[str]) -> list[Column[Any]]:
    return [
        Column(name, _COLUMN_TYPES[fields[key].type](), comment=fields[key].description or None)
        for key, name in warehouse_columns(fields, taken).items()
    ]


def warehouse_tables(contract: EffectiveContract, schema: str | None = None) -> MetaData:
    """Tables named as Segment's warehouse connector names them: ``persons``, ``accounts``,
    ``tracks`` (every event) and one table per declared event."""
    md = MetaData(schema=schema)
    person = {"contact_id", "updated_at"}
    Table(
        PERSONS_TABLE,
        md,
        Column("contact_id", String(64), primary_key=True),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        *_columns(contract.person_traits, person),
    )
    account = {"account_id", "updated_at"}
    Table(
        ACCOUNTS_TABLE,
        md,
        Column("account_id", String(512), primary_key=True),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        *_columns(contract.account_traits, account),
    )

    def base_columns() -> list[Column[Any]]:
        return [
            Column("id", String(256), primary_key=True),
            Column("contact_id", String(64), index=True),
            Column("user_id", Text),
            Column("anonymous_id", Text),
            Column("event", Text),
            Column("timestamp", DateTime(timezone=True), nullable=False),
            Column("received_at", DateTime(timezone=True)),
        ]

    Table(TRACKS_TABLE, md, *base_columns(), Column("properties", JSON))
    for name in sorted(contract.events):
        properties = contract.events[name].properties
        Table(warehouse_name(name), md, *base_columns(), *_columns(properties, EVENT_COLUMNS))
    return md


def warehouse_ddl(contract: EffectiveContract, schema: str | None = None) -> str:
    """``CREATE TABLE`` statements for PostgreSQL, in a stable order."""
    md = warehouse_tables(contract, schema)
    dialect = postgresql.dialect()
    parts = [str(CreateTable(t).compile(dialect=dialect)).strip() + ";" for t in md.sorted_tables]
    return "\n\n".join(parts) + "\n"
