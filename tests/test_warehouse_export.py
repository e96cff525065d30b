"""The contract's exported warehouse DDL and the PostgreSQL destination name the same
tables: tables created from ``spokehub contract export``'s ``warehouse.sql`` are written by
the spoke as they are (json columns, varchar keys), with the columns it needs added."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import pytest

from spokehub.datacontract.spec import effective
from spokehub_contracts import (
    Delivered,
    Event,
    Identifier,
    Person,
    TrackEvent,
    UpsertPerson,
    warehouse_name,
)
from spokehub_postgres import PostgresDestination

pytestmark = pytest.mark.postgres


@pytest.fixture
def exported(pg_server: str, tmp_path: Path, run_cli) -> Iterator[tuple[str, str]]:
    """A schema holding the tables ``spokehub contract export`` wrote for the default
    contract, created by running its ``warehouse.sql``."""
    url = pg_server.replace("postgresql+psycopg://", "postgresql://")
    schema = f"export_{uuid.uuid4().hex[:10]}"
    project = tmp_path / "spokehub.yaml"
    project.write_text("connections: {}\n")
    result = run_cli("-c", str(project), "contract", "export", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    ddl = (tmp_path / "out" / "warehouse.sql").read_text()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute(ddl)
    try:
        yield url, schema
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_the_spoke_writes_the_tables_the_export_made(exported: tuple[str, str]) -> None:
    url, schema = exported
    contract = effective(None)
    assert warehouse_name("Order Completed") in {warehouse_name(n) for n in contract.events}
    ada = (Identifier(type="email", value="ada@example.com"),)
    order = Event(
        type="track",
        event="Order Completed",
        message_id="m-1",
        user_id="u-1",
        properties={"order_id": "o-1", "total": 42.5, "products": [{"sku": "s-1"}]},
        timestamp=datetime(2026, 5, 4, tzinfo=UTC),
    )
    batch = [
        UpsertPerson(
            item_id="p",
            contact_id="c-ada",
            identifiers=ada,
            person=Person(first_name="Ada", address={"city": "London"}, age=36),
        ),
        TrackEvent(item_id="e", contact_id="c-ada", identifiers=ada, event=order),
    ]

    async def write() -> list[object]:
        config = PostgresDestination.Config.model_validate({"url": url, "schema": schema})
        destination = PostgresDestination(config, connection="warehouse")
        try:
            return list(await destination.write(batch))
        finally:
            await destination.aclose()

    assert all(isinstance(o, Delivered) for o in asyncio.run(write()))
    with psycopg.connect(url) as conn:
        [person] = conn.execute(
            f"SELECT first_name, age, address ->> 'city' FROM \"{schema}\".persons"
        ).fetchall()
        [placed] = conn.execute(
            f"SELECT o.order_id, o.total, t.type, t.properties -> 'products' -> 0 ->> 'sku'"
            f' FROM "{schema}".order_completed o JOIN "{schema}".tracks t USING (id)'
        ).fetchall()
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = 'persons'",
                (schema,),
            ).fetchall()
        )
    assert person == ("Ada", 36, "London")
    assert placed == ("o-1", 42.5, "track", "s-1")
    assert types["address"] == "json"  # the export's type, kept
