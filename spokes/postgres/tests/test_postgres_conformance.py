"""The contracts' conformance suite, against the local PostgreSQL (no vendor sandbox: the
warehouse is the real thing; outages and bad credentials are tested in
test_postgres_destination.py)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import psycopg
import pytest

from spokehub_contracts.testing import SpokeConformance
from spokehub_postgres import PostgresDestination

URL = os.environ.get("SPOKEHUB_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test").replace(
    "postgresql+psycopg://", "postgresql://"
)
SCHEMA = f"conformance_{uuid.uuid4().hex[:12]}"

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True, scope="module")
def _warehouse(pg_server: str) -> Iterator[None]:
    yield
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{SCHEMA}" CASCADE')


class TestPostgresConformance(SpokeConformance):
    spoke = PostgresDestination
    config = {"url": URL, "schema": SCHEMA}
    base_url_field = "url"
    config_schema_file = "postgres_config_schema.json"
