"""The contracts' conformance kit, run against the PostgreSQL source on a real server: an
incremental person stream and a diff stream of model scores."""

from __future__ import annotations

from typing import Any

import pytest

from spokehub_contracts.testing import SpokeConformance
from spokehub_postgres import PostgresSource

pytestmark = pytest.mark.postgres

TABLES = (
    "CREATE TABLE customers (id int PRIMARY KEY, email text, first_name text, "
    "updated_at timestamptz NOT NULL)",
    "INSERT INTO customers SELECT n, 'person' || n || '@example.com', 'Name' || n, "
    "timestamptz '2026-01-01 00:00+00' + (n / 3) * interval '1 minute' "
    "FROM generate_series(1, 40) AS n",
    "CREATE TABLE model_scores (email text PRIMARY KEY, churn_risk float8, "
    "scored_at timestamptz NOT NULL)",
    "INSERT INTO model_scores SELECT 'person' || n || '@example.com', n / 100.0, "
    "'2026-11-01 00:00+00' FROM generate_series(1, 12) AS n",
)


def _config(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "streams": [
            {
                "name": "customers",
                "table": "customers",
                "kind": "person",
                "cursor": "updated_at",
                "primary_key": ["id"],
                "identifiers": {"email": "email"},
                "page_size": 6,
            },
            {
                "name": "scores",
                "table": "model_scores",
                "kind": "score",
                "primary_key": ["email"],
                "identifiers": {"email": "email"},
                "scores": ["churn_risk"],
                "model": "churn-v3",
                "computed_at": "scored_at",
            },
        ],
    }


class TestPostgresSourceConformance(SpokeConformance):
    spoke = PostgresSource
    config = _config("postgresql://postgres@127.0.0.1:5432/test")
    config_schema_file = "postgres_source_config.json"

    @pytest.fixture(autouse=True)
    def _database(self, pg_source_url: str) -> None:
        import psycopg

        with psycopg.connect(pg_source_url, autocommit=True) as conn:
            for statement in TABLES:
                conn.execute(statement)  # type: ignore[call-overload]
        type(self).config = _config(pg_source_url)
