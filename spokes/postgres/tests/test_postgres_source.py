"""The PostgreSQL source against a real server: incremental reads past the cursor, a
missing column named, a diff run turning a deleted row into a deletion, model scores with
their model and time."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from spokehub_contracts import (
    Account,
    CheckStatus,
    ConfigError,
    Membership,
    Person,
    PrivacyRequest,
    RejectedRecord,
    ScoredTrait,
    SourceRecord,
    StateCheckpoint,
)
from spokehub_postgres import PostgresSource


def execute(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)  # type: ignore[call-overload]


pytestmark = pytest.mark.postgres

CUSTOMERS = """
CREATE TABLE customers (
    id integer PRIMARY KEY,
    email text,
    first_name text,
    tier text,
    lifetime_value numeric(10, 2),
    updated_at timestamptz NOT NULL
)
"""


def _customers(url: str, first: int, last: int, day: int) -> None:
    execute(
        url,
        "INSERT INTO customers SELECT n, 'c' || n || '@example.com', 'Name' || n, 'gold', "
        f"n * 1.5, timestamptz '2026-01-{day:02d} 00:00+00' + n * interval '1 second' "
        f"FROM generate_series({first}, {last}) AS n",
    )


async def _read(config: Mapping[str, Any], stream: str, state: Any = None) -> list[Any]:
    source = PostgresSource(PostgresSource.Config.model_validate(config), connection="pg")
    try:
        return [item async for item in source.read(stream, state)]
    finally:
        await source.aclose()


def _last_state(items: list[Any]) -> dict[str, Any]:
    return [i for i in items if isinstance(i, StateCheckpoint)][-1].state


def _people_config(url: str, **extra: Any) -> dict[str, Any]:
    stream = {
        "name": "customers",
        "table": "customers",
        "kind": "person",
        "cursor": "updated_at",
        "primary_key": ["id"],
        "identifiers": {"email": "email", "id": "crm:customer_id"},
        "page_size": 7,
        **extra,
    }
    return {"url": url, "streams": [stream]}


async def test_an_incremental_run_reads_only_rows_past_the_cursor(pg_source_url):
    execute(pg_source_url, CUSTOMERS)
    _customers(pg_source_url, 1, 20, day=1)
    config = _people_config(pg_source_url)

    first = await _read(config, "customers")
    records = [i for i in first if isinstance(i, SourceRecord)]
    assert [r.record_id for r in records] == [str(n) for n in range(1, 21)]
    assert len([i for i in first if isinstance(i, StateCheckpoint)]) == 3  # pages of 7
    ada = records[0]
    assert isinstance(ada.data, Person)
    assert ada.data.email == "c1@example.com" and ada.data.first_name == "Name1"
    assert ada.data.attributes == {
        "tier": "gold",
        "lifetime_value": 1.5,
        "updated_at": ada.data.attributes["updated_at"],
    }
    assert {(i.type, i.value) for i in ada.identifiers} == {
        ("email", "c1@example.com"),
        ("crm:customer_id", "1"),
    }
    state = _last_state(first)

    assert [i for i in await _read(config, "customers", state) if isinstance(i, SourceRecord)] == []
    # Three new rows and one changed one (its cursor moves past the saved position).
    _customers(pg_source_url, 21, 23, day=2)
    execute(pg_source_url, "UPDATE customers SET tier = 'silver', updated_at = now() WHERE id = 5")
    second = await _read(config, "customers", state)
    assert [r.record_id for r in second if isinstance(r, SourceRecord)] == ["21", "22", "23", "5"]


async def test_rows_with_one_cursor_value_are_split_across_pages_exactly(pg_source_url):
    execute(pg_source_url, CUSTOMERS)
    execute(
        pg_source_url,
        "INSERT INTO customers SELECT n, 'c' || n || '@example.com', NULL, NULL, NULL, "
        "timestamptz '2026-01-01 00:00+00' FROM generate_series(1, 10) AS n",
    )
    config = _people_config(pg_source_url, page_size=4)
    first = await _read(config, "customers")
    checkpoint = next(i for i in first if isinstance(i, StateCheckpoint))
    rest = await _read(config, "customers", checkpoint.state)
    assert [r.record_id for r in rest if isinstance(r, SourceRecord)] == [
        str(n) for n in range(5, 11)
    ]


async def test_a_missing_column_is_named(pg_source_url):
    execute(pg_source_url, CUSTOMERS)
    config = _people_config(pg_source_url, cursor="modified_at")
    with pytest.raises(ConfigError) as error:
        await _read(config, "customers")
    assert "'modified_at' (cursor) is not in customers" in str(error.value)
    assert "streams.customers" in str(error.value)
    checked = await PostgresSource(PostgresSource.Config.model_validate(config)).check()
    assert checked.status is CheckStatus.CONFIG_ERROR
    assert "modified_at" in checked.message


async def test_a_bad_row_is_rejected_with_its_reason_and_the_read_goes_on(pg_source_url):
    execute(pg_source_url, CUSTOMERS)
    _customers(pg_source_url, 1, 3, day=1)
    execute(pg_source_url, "UPDATE customers SET email = 'not-an-address' WHERE id = 2")
    items = await _read(_people_config(pg_source_url), "customers")
    [rejected] = [i for i in items if isinstance(i, RejectedRecord)]
    assert rejected.field == "email" and "e-mail" in rejected.rule
    assert rejected.location == "customers key 2"
    assert len([i for i in items if isinstance(i, SourceRecord)]) == 2


SCORES = """
CREATE TABLE model_scores (
    email text PRIMARY KEY,
    churn_risk double precision,
    ltv numeric,
    recommended_products text[],
    scored_at timestamptz NOT NULL
)
"""


def _scores_config(url: str) -> dict[str, Any]:
    return {
        "url": url,
        "streams": [
            {
                "name": "scores",
                "table": "model_scores",
                "kind": "score",
                "primary_key": ["email"],
                "identifiers": {"email": "email"},
                "scores": ["churn_risk", "ltv", "recommended_products"],
                "model": "churn-v3",
                "computed_at": "scored_at",
            }
        ],
    }


async def test_a_diff_run_sends_changes_and_turns_a_deleted_row_into_a_deletion(pg_source_url):
    execute(
        pg_source_url,
        SCORES,
        "INSERT INTO model_scores VALUES "
        "('ada@example.com', 0.12, 1200, '{sku-1,sku-2}', '2026-11-01 00:00+00'), "
        "('bob@example.com', 0.80, 90, '{}', '2026-11-01 00:00+00'), "
        "('cy@example.com', 0.33, 400, '{sku-3}', '2026-11-01 00:00+00')",
    )
    config = _scores_config(pg_source_url)
    first = await _read(config, "scores")
    scores = [i for i in first if isinstance(i, SourceRecord)]
    assert len(scores) == 9
    ada = {s.data.name: s.data for s in scores if s.identifiers[0].value == "ada@example.com"}
    assert isinstance(ada["ltv"], ScoredTrait)
    assert ada["churn_risk"].value == 0.12 and ada["ltv"].value == 1200
    assert ada["recommended_products"].value == ["sku-1", "sku-2"]
    assert ada["ltv"].model == "churn-v3"
    assert ada["ltv"].computed_at.isoformat().startswith("2026-11-01T00:00:00")
    state = _last_state(first)

    assert [i for i in await _read(config, "scores", state) if isinstance(i, SourceRecord)] == []

    execute(
        pg_source_url,
        "DELETE FROM model_scores WHERE email = 'bob@example.com'",
        "UPDATE model_scores SET churn_risk = 0.5 WHERE email = 'cy@example.com'",
    )
    second = [i for i in await _read(config, "scores", state) if isinstance(i, SourceRecord)]
    changed = [s for s in second if s.data.value is not None]
    assert {s.identifiers[0].value for s in changed} == {"cy@example.com"}
    deleted = [s for s in second if s.data.value is None]
    assert {(s.identifiers[0].value, s.data.name) for s in deleted} == {
        ("bob@example.com", "churn_risk"),
        ("bob@example.com", "ltv"),
        ("bob@example.com", "recommended_products"),
    }
    assert all(s.data.model == "churn-v3" for s in deleted)


async def test_a_deleted_person_row_becomes_an_erasure_request(pg_source_url):
    execute(pg_source_url, CUSTOMERS)
    _customers(pg_source_url, 1, 3, day=1)
    config = _people_config(pg_source_url, cursor=None)
    state = _last_state(await _read(config, "customers"))
    execute(pg_source_url, "DELETE FROM customers WHERE id = 2")
    [deletion] = [i for i in await _read(config, "customers", state) if isinstance(i, SourceRecord)]
    assert isinstance(deletion.data, PrivacyRequest)
    assert deletion.data.action == "delete"
    assert {(i.type, i.value) for i in deletion.identifiers} == {
        ("email", "c2@example.com"),
        ("crm:customer_id", "2"),
    }


async def test_an_emptied_table_is_not_taken_for_deleting_everyone(pg_source_url):
    execute(pg_source_url, CUSTOMERS)
    _customers(pg_source_url, 1, 3, day=1)
    config = _people_config(pg_source_url, cursor=None)
    state = _last_state(await _read(config, "customers"))
    execute(pg_source_url, "DELETE FROM customers")
    with pytest.raises(ConfigError, match="allow_empty"):
        await _read(config, "customers", state)


async def test_memberships_from_a_query_end_when_their_row_goes(pg_source_url):
    execute(
        pg_source_url,
        "CREATE TABLE people (id int PRIMARY KEY, email text, company text, role text)",
        "INSERT INTO people VALUES (1, 'ada@example.com', 'acme', 'CTO'), "
        "(2, 'bob@example.com', 'initech', NULL)",
    )
    config = {
        "url": pg_source_url,
        "streams": [
            {
                "name": "jobs",
                "query": "SELECT id, email, company AS account_id, role FROM people",
                "kind": "membership",
                "primary_key": ["id"],
                "identifiers": {"email": "email"},
            }
        ],
    }
    first = await _read(config, "jobs")
    [ada, _bob] = [i for i in first if isinstance(i, SourceRecord)]
    assert isinstance(ada.data, Membership)
    assert (ada.data.account_id, ada.data.role) == ("acme", "CTO")
    execute(pg_source_url, "DELETE FROM people WHERE id = 1")
    [ended] = [
        i for i in await _read(config, "jobs", _last_state(first)) if isinstance(i, SourceRecord)
    ]
    assert isinstance(ended.data, Membership)
    assert ended.data.account_id == "acme" and ended.data.ended_at is not None


async def test_check_tells_a_bad_password_and_a_closed_port(pg_source_url):
    config = _people_config(pg_source_url)
    execute(pg_source_url, CUSTOMERS)
    ok = await PostgresSource(PostgresSource.Config.model_validate(config)).check()
    assert ok.status is CheckStatus.OK
    closed = {**config, "url": "postgresql://postgres@127.0.0.1:1/test"}
    down = await PostgresSource(PostgresSource.Config.model_validate(closed)).check()
    assert down.status is CheckStatus.UNREACHABLE


def test_config_errors_name_the_field():
    base = {"url": "postgresql://x@h/db"}
    with pytest.raises(ValueError, match="primary_key: a stream without a cursor"):
        PostgresSource.Config.model_validate(
            {
                **base,
                "streams": [
                    {"name": "s", "table": "t", "kind": "person", "identifiers": {"email": "email"}}
                ],
            }
        )
    with pytest.raises(ValueError, match="set exactly one of table and query"):
        PostgresSource.Config.model_validate(
            {**base, "streams": [{"name": "s", "kind": "account", "cursor": "c"}]}
        )
    with pytest.raises(ValueError, match="deletions: an account"):
        PostgresSource.Config.model_validate(
            {
                **base,
                "streams": [
                    {
                        "name": "s",
                        "table": "t",
                        "kind": "account",
                        "primary_key": ["id"],
                        "deletions": True,
                    }
                ],
            }
        )


async def test_accounts_need_an_account_id_and_keep_other_columns_as_attributes(pg_source_url):
    execute(
        pg_source_url,
        "CREATE TABLE companies (id int PRIMARY KEY, domain text, name text, "
        "employees int, segment text, updated_at timestamptz NOT NULL DEFAULT now())",
        "INSERT INTO companies (id, domain, name, employees, segment) VALUES "
        "(7, 'acme.example', 'Acme', 120, 'mid-market')",
    )
    stream = {
        "name": "companies",
        "table": "companies",
        "kind": "account",
        "cursor": "updated_at",
        "primary_key": ["id"],
        "ignore": ["updated_at"],
    }
    with pytest.raises(ConfigError, match="needs an account_id column"):
        await _read({"url": pg_source_url, "streams": [stream]}, "companies")

    mapped = {**stream, "mapping": {"domain": "account_id", "segment": "attributes.tier"}}
    [acme] = [
        i
        for i in await _read({"url": pg_source_url, "streams": [mapped]}, "companies")
        if isinstance(i, SourceRecord)
    ]
    assert isinstance(acme.data, Account)
    assert (acme.data.account_id, acme.data.name, acme.data.employees) == (
        "acme.example",
        "Acme",
        120,
    )
    assert acme.data.attributes == {"tier": "mid-market"}  # the key is the record id
    assert acme.record_id == "7"
