"""The warehouse destination against a real PostgreSQL: every kind of change lands in its
table, a re-run changes nothing, a new trait becomes a column on its own, BI-style SQL
finds the profile, and forget() leaves nothing of the person."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Any

import psycopg
import pytest

from spokehub_contracts import (
    Account,
    AudienceEntered,
    AudienceExited,
    AuthError,
    Change,
    CheckStatus,
    Delivered,
    Event,
    Identifier,
    Membership,
    MergeContacts,
    Person,
    Rejected,
    ScoredTrait,
    TrackEvent,
    TransientError,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
)
from spokehub_postgres import PostgresDestination

pytestmark = pytest.mark.postgres

ADA = (
    Identifier(type="email", value="ada@example.com"),
    Identifier(type="user_id", value="u-1"),
)
GRACE = (Identifier(type="email", value="grace@example.com"),)
AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def spoke(url: str, schema: str) -> PostgresDestination:
    config = PostgresDestination.Config.model_validate({"url": url, "schema": schema})
    return PostgresDestination(config, connection="warehouse")


async def write(url: str, schema: str, batch: list[Change]) -> list[Any]:
    destination = spoke(url, schema)
    try:
        return list(await destination.write(batch))
    finally:
        await destination.aclose()


def rows(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


def dump(url: str, schema: str) -> dict[str, list[tuple[Any, ...]]]:
    tables = [
        t
        for (t,) in rows(
            url, "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", schema
        )
    ]
    return {t: sorted(map(repr, rows(url, f'SELECT * FROM "{schema}"."{t}"'))) for t in tables}


def ada(**attributes: Any) -> UpsertPerson:
    return UpsertPerson(
        item_id="p1",
        contact_id="c-ada",
        identifiers=ADA,
        person=Person(
            first_name="Ada",
            email="ada@example.com",
            birthday=date(1815, 12, 10),
            address={"city": "London"},
            attributes=attributes,
        ),
        scores={"churn_risk": 0.12},
        score_details={
            "churn_risk": ScoredTrait(name="churn_risk", value=0.12, model="churn", computed_at=AT)
        },
        consents={"email_marketing": True},
    )


def the_day(contact: str = "c-ada", ids: tuple[Identifier, ...] = ADA) -> list[Change]:
    order = Event(
        type="track",
        event="Order Completed",
        message_id=f"m-{contact}",
        user_id="u-1" if contact == "c-ada" else "u-2",
        properties={"order_id": "o-1", "total": 42.5, "products": [{"sku": "s-1"}]},
        timestamp=AT,
    )
    return [
        ada(loyalty_tier="gold"),
        UpsertAccount(item_id="a1", account=Account(account_id="acme", name="Acme", employees=40)),
        UpsertMembership(
            item_id="m1",
            contact_id=contact,
            identifiers=ids,
            membership=Membership(account_id="acme", role="buyer", started_at=AT),
        ),
        TrackEvent(item_id="e1", contact_id=contact, identifiers=ids, event=order),
        AudienceEntered(item_id="au1", contact_id=contact, identifiers=ids, audience="buyers"),
    ]


async def test_every_kind_lands_and_bi_sql_finds_the_profile(warehouse: tuple[str, str]) -> None:
    url, schema = warehouse
    outcomes = await write(url, schema, the_day())
    assert all(isinstance(o, Delivered) for o in outcomes), outcomes
    [profile] = rows(
        url,
        f"""
        SELECT p.first_name, p.loyalty_tier, p.birthday, p.address ->> 'city',
               s.value::float, c.granted, a.name, m.role, au.in_audience, o.total,
               o.order_id, t.properties -> 'products' -> 0 ->> 'sku'
        FROM "{schema}".identifiers i
        JOIN "{schema}".persons p USING (contact_id)
        JOIN "{schema}".scores s ON s.contact_id = p.contact_id AND s.name = 'churn_risk'
        JOIN "{schema}".consents c ON c.contact_id = p.contact_id
        JOIN "{schema}".memberships m ON m.contact_id = p.contact_id
        JOIN "{schema}".accounts a ON a.account_id = m.account_id
        JOIN "{schema}".audience_memberships au ON au.contact_id = p.contact_id
        JOIN "{schema}".order_completed o ON o.contact_id = p.contact_id
        JOIN "{schema}".tracks t ON t.id = o.id
        WHERE i.type = 'email' AND i.value = %s
        """,
        "ada@example.com",
    )
    assert profile == (
        "Ada", "gold", date(1815, 12, 10), "London", 0.12, True, "Acme", "buyer", True,
        42.5, "o-1", "s-1",
    )  # fmt: skip
    types = dict(
        rows(
            url,
            "SELECT column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s AND table_name = 'order_completed'",
            schema,
        )
    )
    assert types["total"] == "double precision" and types["products"] == "jsonb"


async def test_a_rerun_is_idempotent(warehouse: tuple[str, str]) -> None:
    url, schema = warehouse
    await write(url, schema, the_day())
    before = dump(url, schema)
    outcomes = await write(url, schema, the_day())
    assert all(isinstance(o, Delivered) for o in outcomes)
    assert dump(url, schema) == before  # updated_at included: nothing was rewritten


async def test_a_new_trait_becomes_a_column_without_a_migration(
    warehouse: tuple[str, str],
) -> None:
    url, schema = warehouse
    await write(url, schema, [ada()])
    grace = UpsertPerson(
        item_id="p2",
        contact_id="c-grace",
        identifiers=GRACE,
        person=Person(first_name="Grace", attributes={"Favourite Colour": "teal", "visits": 3}),
    )
    assert isinstance((await write(url, schema, [grace]))[0], Delivered)
    got = rows(
        url,
        f'SELECT contact_id, favourite_colour, visits FROM "{schema}".persons ORDER BY 1',
    )
    assert got == [("c-ada", None, None), ("c-grace", "teal", 3)]


async def test_an_event_without_properties_gets_its_table(warehouse: tuple[str, str]) -> None:
    url, schema = warehouse
    viewed = Event(type="track", event="Product Viewed", anonymous_id="B1", message_id="v-1")
    change = TrackEvent(item_id="v", contact_id="c-ada", event=viewed)
    assert isinstance((await write(url, schema, [change]))[0], Delivered)
    assert rows(url, f'SELECT id, anonymous_id FROM "{schema}".product_viewed') == [("v-1", "B1")]
    # A property that has only ever been null has no column yet; the event still lands.
    empty = viewed.model_copy(update={"message_id": "v-2", "properties": {"sku": None}})
    change = TrackEvent(item_id="v2", contact_id="c-ada", event=empty)
    assert isinstance((await write(url, schema, [change]))[0], Delivered)
    assert rows(url, f'SELECT count(*) FROM "{schema}".product_viewed') == [(2,)]


async def test_a_person_with_no_traits_yet_has_a_row(warehouse: tuple[str, str]) -> None:
    url, schema = warehouse
    bare = UpsertPerson(item_id="p", contact_id="c-new", identifiers=GRACE, person=Person())
    for _ in range(2):
        assert isinstance((await write(url, schema, [bare]))[0], Delivered)
    assert rows(url, f'SELECT contact_id FROM "{schema}".persons') == [("c-new",)]


async def test_a_trait_the_hub_dropped_is_cleared_and_audience_moves_are_stamped_once(
    warehouse: tuple[str, str],
) -> None:
    url, schema = warehouse
    await write(url, schema, [ada(loyalty_tier="gold")])
    await write(url, schema, [ada()])
    assert rows(url, f'SELECT loyalty_tier FROM "{schema}".persons') == [(None,)]
    entered = AudienceEntered(item_id="1", contact_id="c-ada", audience="buyers")
    exited = AudienceExited(item_id="2", contact_id="c-ada", audience="buyers")
    await write(url, schema, [entered])
    first = rows(url, f'SELECT entered_at FROM "{schema}".audience_memberships')
    await write(url, schema, [entered])
    assert rows(url, f'SELECT entered_at FROM "{schema}".audience_memberships') == first
    await write(url, schema, [exited])
    [(inside, exited_at)] = rows(
        url, f'SELECT in_audience, exited_at FROM "{schema}".audience_memberships'
    )
    assert inside is False and exited_at is not None


async def test_items_that_do_not_fit_are_rejected_alone_naming_the_field(
    warehouse: tuple[str, str],
) -> None:
    url, schema = warehouse
    await write(url, schema, [ada(visits=3)])
    misfit = ada(visits="many").model_copy(update={"item_id": "bad"})
    clash = UpsertPerson(
        item_id="clash",
        contact_id="c-x",
        person=Person(attributes={"Plan": "a", "plan": "b"}),
    )
    anonymous = AudienceEntered(item_id="anon", audience="buyers")
    fine = UpsertPerson(item_id="ok", contact_id="c-grace", person=Person(first_name="Grace"))
    outcomes = {o.item_id: o for o in await write(url, schema, [misfit, clash, anonymous, fine])}
    assert isinstance(outcomes["ok"], Delivered)
    assert isinstance(outcomes["bad"], Rejected)
    assert "person.visits" in outcomes["bad"].reason and "bigint" in outcomes["bad"].reason
    assert "many" not in outcomes["bad"].reason
    assert isinstance(outcomes["clash"], Rejected) and "column plan" in outcomes["clash"].reason
    assert isinstance(outcomes["anon"], Rejected) and "contact_id" in outcomes["anon"].reason
    assert rows(url, f'SELECT visits FROM "{schema}".persons WHERE contact_id = %s', "c-ada") == [
        (3,)
    ]


async def test_forget_deletes_the_persons_rows_only(warehouse: tuple[str, str]) -> None:
    url, schema = warehouse
    grace_ids = (Identifier(type="email", value="grace@example.com"),)
    await write(url, schema, the_day())
    await write(url, schema, the_day("c-grace", grace_ids)[2:])
    destination = spoke(url, schema)
    try:
        outcome = await destination.forget([Identifier(type="email", value="ada@example.com")])
    finally:
        await destination.aclose()
    assert isinstance(outcome, Delivered)
    left = dump(url, schema)
    text = repr(left)
    assert "c-ada" not in text and "ada@example.com" not in text and "'u-1'" not in text
    assert "c-grace" in text and left["accounts"]


async def test_check_tells_bad_credentials_from_an_outage(
    warehouse: tuple[str, str],
) -> None:
    url, schema = warehouse
    assert (await spoke(url, schema).check()).status is CheckStatus.OK
    where = url.split("@", 1)[1]
    wrong = f"postgresql://nobody:s3cret-pw@{where}"
    result = await spoke(wrong, schema).check()
    assert result.status is CheckStatus.AUTH_ERROR and "s3cret-pw" not in result.message
    host = where.split("/", 1)[0].rsplit(":", 1)[0]
    down = await spoke(f"postgresql://postgres:s3cret-pw@{host}:1/test", schema).check()
    assert down.status is CheckStatus.UNREACHABLE and "s3cret-pw" not in down.message
    database = where.rsplit("/", 1)[0] + "/no_such_database"
    missing = await spoke(f"postgresql://postgres@{database}", schema).check()
    assert missing.status is CheckStatus.CONFIG_ERROR
    with pytest.raises(AuthError, match="does not exist"):
        await write(wrong, schema, [ada()])


async def test_a_lost_connection_is_transient_and_the_next_write_reconnects(
    warehouse: tuple[str, str],
) -> None:
    url, schema = warehouse
    destination = spoke(url, schema)
    grace = UpsertPerson(item_id="p2", contact_id="c-grace", person=Person(first_name="Grace"))
    try:
        await destination.write([ada()])
        assert destination._conn is not None
        backend = destination._conn.info.backend_pid
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (backend,))
        with pytest.raises(TransientError, match="PostgreSQL"):
            await destination.write([grace])
        assert isinstance((await destination.write([grace]))[0], Delivered)
    finally:
        await destination.aclose()
    assert rows(url, f'SELECT contact_id FROM "{schema}".persons ORDER BY 1') == [
        ("c-ada",),
        ("c-grace",),
    ]


async def test_a_role_without_the_privileges_is_told_as_an_auth_error(
    warehouse: tuple[str, str],
) -> None:
    url, schema = warehouse
    role = f"wh_reader_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f'CREATE ROLE "{role}" LOGIN')
    limited = f"postgresql://{role}@{url.split('@', 1)[1]}"
    try:
        result = await spoke(limited, schema).check()
        assert result.status is CheckStatus.AUTH_ERROR and "may not create it" in result.message
        with pytest.raises(AuthError, match="permission denied"):
            await write(limited, schema, [ada()])
        # The schema made by its owner, but no CREATE on it for the role.
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{schema}"')
            admin.execute(f'GRANT USAGE ON SCHEMA "{schema}" TO "{role}"')
        result = await spoke(limited, schema).check()
        assert (
            result.status is CheckStatus.AUTH_ERROR and "GRANT CREATE ON SCHEMA" in result.message
        )
        # Once the owner created the tables and granted writing, the role writes.
        await write(url, schema, [ada()])
        with psycopg.connect(url, autocommit=True) as admin:
            grant = "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA"
            admin.execute(f'{grant} "{schema}" TO "{role}"')
        outcomes = await write(limited, schema, [ada(visits=None)])
        assert isinstance(outcomes[0], Delivered), outcomes
    finally:
        with psycopg.connect(url, autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
            admin.execute(f'DROP OWNED BY "{role}"')
            admin.execute(f'DROP ROLE "{role}"')


async def test_a_merge_moves_the_absorbed_contacts_history_to_the_survivor(
    warehouse: tuple[str, str],
) -> None:
    url, schema = warehouse
    await write(url, schema, the_day())
    await write(url, schema, the_day("c-grace", GRACE)[2:])
    grace_only = AudienceEntered(item_id="g", contact_id="c-grace", audience="newsletter")
    await write(url, schema, [grace_only])
    merge = MergeContacts(item_id="mg", contact_id="c-ada", absorbed_contact_id="c-grace")
    assert isinstance((await write(url, schema, [merge]))[0], Delivered)
    after = dump(url, schema)
    for table in after:
        if table != "contact_merges" and table != "accounts":
            left = f'SELECT count(*) FROM "{schema}"."{table}" WHERE contact_id = %s'
            assert rows(url, left, "c-grace") == [(0,)], table
    assert rows(url, f'SELECT count(*) FROM "{schema}".tracks WHERE contact_id = %s', "c-ada") == [
        (2,)
    ]
    assert rows(
        url, f'SELECT contact_id FROM "{schema}".identifiers WHERE value = %s', "grace@example.com"
    ) == [("c-ada",)]
    audiences = rows(url, f'SELECT audience FROM "{schema}".audience_memberships ORDER BY 1')
    assert audiences == [("buyers",), ("newsletter",)]  # one each: the survivor's buyers row
    assert rows(url, f'SELECT absorbed_contact_id, contact_id FROM "{schema}".contact_merges') == [
        ("c-grace", "c-ada")
    ]
    # Sent again: nothing left to move, nothing changes.
    await write(url, schema, [merge])
    assert dump(url, schema) == after
