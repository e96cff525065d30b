"""The PostgreSQL destination: the hub's truth as warehouse tables.

One batch is one transaction, each item in its own savepoint, so an item PostgreSQL
refuses is answered ``Rejected`` alone and the rest commit together. Every write is an
upsert that changes a row only when a value differs, so sending a batch again (a retry
after a lost answer, a replay) leaves the tables as they were, ``updated_at`` included.
New traits and event properties become columns before the items are written: schema
evolution needs no migration.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, ClassVar

import psycopg
from psycopg import sql

from spokehub_contracts import (
    ACCOUNTS_TABLE,
    PERSONS_TABLE,
    TRACKS_TABLE,
    AudienceEntered,
    AudienceExited,
    AuthError,
    Capabilities,
    Change,
    CheckResult,
    CheckStatus,
    Delivered,
    Destination,
    Forget,
    Identifier,
    MergeContacts,
    Outcome,
    Rejected,
    TrackEvent,
    TransientError,
    UpsertAccount,
    UpsertMembership,
    UpsertPerson,
    utcnow,
)

from ._columns import Misfit, family, fit, infer, json_value
from ._config import PostgresConfig
from ._tables import (
    ACCOUNT_KEYS,
    AUDIENCES_TABLE,
    BASE_TABLES,
    CONSENTS_TABLE,
    EVENT_TABLE,
    EXTRA_COLUMNS,
    IDENTIFIERS_TABLE,
    MEMBERSHIPS_TABLE,
    MERGES_TABLE,
    PER_CONTACT_KEYS,
    PERSON_KEYS,
    SCORES_TABLE,
    Clash,
    event_table,
    property_columns,
    traits,
)

# SQLSTATE classes: 08 connection, 53 resources, 57 operator intervention (shutdown),
# 40 serialization and deadlock: all may pass. 28 and 42501 are the credentials' fault.
_TRANSIENT_CLASSES = ("08", "53", "57", "40", "58")
# A refused login says so only in its words (libpq gives no SQLSTATE before the session
# starts): a wrong password, an unknown role or database, a host the server refuses. "too
# many connections for role" names the role too, but passes.
_AUTH_WORDS = (
    "password authentication failed",
    "authentication failed",
    "no pg_hba.conf entry",
    "does not exist",
    "permission denied",
    "password is required",
)


log = logging.getLogger(__name__)


def _now() -> datetime:
    return utcnow()


class PostgresDestination(Destination):
    """Profiles, identifiers, scores, consents, accounts, memberships, events and audience
    memberships as tables of one schema."""

    name: ClassVar[str] = "postgres"
    Config: ClassVar[type[PostgresConfig]] = PostgresConfig
    description: ClassVar[str] = "The hub's truth as PostgreSQL warehouse tables"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=(
            "upsert_person",
            "upsert_account",
            "upsert_membership",
            "event",
            "audience_entered",
            "audience_exited",
            "forget",
            "merge",
        ),
        batch_size=500,
        identifier_types=("user_id", "anonymous_id", "email", "phone"),
        can_delete=True,
        # A merge moves the absorbed contact's history to the survivor: erasing it, as the
        # hub does for a tool that cannot merge, would take its events out of BI.
        merges=True,
        purposes=("analytics",),
    )

    def __init__(self, config: PostgresConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self.config: PostgresConfig = config
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        # table -> column -> type family; read from the catalogue once, kept as DDL runs.
        self._columns: dict[str, dict[str, str]] | None = None

    # -- connection --------------------------------------------------------------------

    def _quiet(self, text: str) -> str:
        password = self.config.password()
        first = (text.strip().splitlines() or [""])[0]
        return first.replace(password, "***") if password else first

    def _error(self, exc: psycopg.Error, doing: str) -> Exception:
        """The contract's error for a failure of the whole call."""
        message = f"PostgreSQL {doing}: {self._quiet(str(exc))}"
        state = exc.sqlstate or ""
        if state.startswith("28") or state == "42501":
            return AuthError(message)
        if state.startswith(_TRANSIENT_CLASSES) or isinstance(exc, psycopg.OperationalError):
            lowered = message.lower()
            if (
                "fatal" in lowered
                and "too many connections" not in lowered
                and any(w in lowered for w in _AUTH_WORDS)
            ):
                return AuthError(message)
            return TransientError(message)
        return TransientError(message)

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None or self._conn.closed:
            self._columns = None
            try:
                self._conn = await psycopg.AsyncConnection.connect(
                    self.config.conninfo(), connect_timeout=10, autocommit=True
                )
            except psycopg.Error as exc:
                raise self._error(exc, "refused the connection") from None
        return self._conn

    async def aclose(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def check(self) -> CheckResult:
        try:
            conn = await psycopg.AsyncConnection.connect(
                self.config.conninfo(), connect_timeout=10, autocommit=True
            )
        except psycopg.Error as exc:
            text = self._quiet(str(exc))
            lowered = text.lower()
            if "database" in lowered and "does not exist" in lowered:
                return CheckResult(status=CheckStatus.CONFIG_ERROR, message=text)
            error = self._error(exc, "refused the connection")
            status = (
                CheckStatus.AUTH_ERROR if isinstance(error, AuthError) else CheckStatus.UNREACHABLE
            )
            return CheckResult(status=status, message=str(error))
        try:
            async with conn.cursor() as cur:
                # By the schema's oid: has_schema_privilege() on a name that does not
                # exist is an error, not an answer.
                await cur.execute(
                    "SELECT has_database_privilege(current_database(), 'CREATE'),"
                    " (SELECT has_schema_privilege(n.oid, 'CREATE') FROM pg_namespace n"
                    "  WHERE n.nspname = %s)",
                    (self.config.schema_,),
                )
                row = await cur.fetchone()
        except psycopg.Error as exc:
            return CheckResult(status=CheckStatus.UNREACHABLE, message=self._quiet(str(exc)))
        finally:
            await conn.close()
        assert row is not None
        can_create_schema, can_create_tables = row
        schema = self.config.schema_
        if can_create_tables is None and not can_create_schema:
            return CheckResult(
                status=CheckStatus.AUTH_ERROR,
                message=f"schema {schema} does not exist and the role may not create it:"
                " create it, or GRANT CREATE ON DATABASE to the role",
            )
        if can_create_tables is None:
            return CheckResult(status=CheckStatus.OK, message=f"schema {schema} will be created")
        if not can_create_tables:
            return CheckResult(
                status=CheckStatus.AUTH_ERROR,
                message=f"the role may not create tables in schema {schema}: GRANT CREATE ON"
                f" SCHEMA {schema} to it",
            )
        return CheckResult(status=CheckStatus.OK, message=f"writes schema {schema}")

    # -- the schema --------------------------------------------------------------------

    def _table(self, table: str) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.config.schema_), sql.Identifier(table))

    async def _read_columns(self, cur: psycopg.AsyncCursor[Any]) -> dict[str, dict[str, str]]:
        await cur.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s",
            (self.config.schema_,),
        )
        columns: dict[str, dict[str, str]] = {}
        for table, column, data_type in await cur.fetchall():
            columns.setdefault(table, {})[column] = family(data_type)
        return columns

    async def _load_columns(self, cur: psycopg.AsyncCursor[Any]) -> dict[str, dict[str, str]]:
        """The schema's tables and columns, the warehouse's own tables created first where
        missing (only those: a role that may not create may still write what exists)."""
        schema = self.config.schema_
        columns = await self._read_columns(cur)
        missing = [table for table in BASE_TABLES if table not in columns]
        lacking = [
            (table, column, kind)
            for table, extra in EXTRA_COLUMNS.items()
            if table in columns
            for column, kind in extra.items()
            if column not in columns[table]
        ]
        for table, column, kind in lacking:
            # A table made from the contract's exported DDL: add what this spoke writes.
            await cur.execute(
                sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} " + kind).format(
                    self._table(table), sql.Identifier(column)
                )
            )
        if not missing:
            return await self._read_columns(cur) if lacking else columns
        if not columns:
            await cur.execute("SELECT 1 FROM pg_namespace WHERE nspname = %s", (schema,))
            if await cur.fetchone() is None:
                await cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        for table in missing:
            await cur.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} (" + BASE_TABLES[table] + ")").format(
                    self._table(table)
                )
            )
            if table in (IDENTIFIERS_TABLE, TRACKS_TABLE):
                await cur.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} (contact_id)").format(
                        sql.Identifier(f"{table}_contact_id"), self._table(table)
                    )
                )
        return await self._read_columns(cur)

    async def _evolve(
        self, cur: psycopg.AsyncCursor[Any], wanted: dict[str, dict[str, Any]]
    ) -> None:
        """Create missing event tables and add a column for every new trait or property,
        typed by its first value."""
        columns = self._columns
        assert columns is not None
        for table, values in wanted.items():
            if table not in columns:
                await cur.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} (" + EVENT_TABLE + ")").format(
                        self._table(table)
                    )
                )
                await cur.execute(
                    "SELECT column_name, data_type FROM information_schema.columns"
                    " WHERE table_schema = %s AND table_name = %s",
                    (self.config.schema_, table),
                )
                columns[table] = {c: family(t) for c, t in await cur.fetchall()}
            known = columns[table]
            for column, value in sorted(values.items()):
                kind = infer(value)
                if column in known or kind is None:
                    continue
                await cur.execute(
                    sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS {} " + kind).format(
                        self._table(table), sql.Identifier(column)
                    )
                )
                known[column] = kind

    # -- writing -----------------------------------------------------------------------

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        async with self._lock:
            conn = await self._connect()
            try:
                return await self._write(conn, batch)
            except psycopg.Error as exc:
                # The transaction rolled back, DDL included: read the catalogue afresh.
                self._columns = None
                if conn.closed or isinstance(exc, psycopg.OperationalError):
                    await self.aclose()
                raise self._error(exc, "failed the batch") from None

    async def _write(
        self, conn: psycopg.AsyncConnection[Any], batch: Sequence[Change]
    ) -> list[Outcome]:
        outcomes: dict[str, Outcome] = {}
        rows: list[tuple[Change, dict[str, Any]]] = []
        wanted: dict[str, dict[str, Any]] = {}
        for change in batch:
            try:
                prepared = self._prepare(change)
            except (Clash, Misfit) as exc:
                outcomes[change.item_id] = Rejected(item_id=change.item_id, reason=str(exc))
                continue
            rows.append((change, prepared))
            for table, values in prepared.get("columns", {}).items():
                # Named even without values: an event with no properties needs its table.
                columns = wanted.setdefault(table, {})
                for column, value in values.items():
                    if value is not None:
                        columns.setdefault(column, value)
        async with conn.transaction(), conn.cursor() as cur:
            if self._columns is None:
                self._columns = await self._load_columns(cur)
            await self._evolve(cur, wanted)
            now = _now()
            for change, prepared in rows:
                try:
                    async with conn.transaction():
                        await self._apply(cur, change, prepared, now)
                except Misfit as exc:
                    outcomes[change.item_id] = Rejected(item_id=change.item_id, reason=str(exc))
                except (psycopg.errors.DataError, psycopg.errors.IntegrityError) as exc:
                    reason = f"PostgreSQL refused the item: {self._quiet(str(exc))}"
                    outcomes[change.item_id] = Rejected(item_id=change.item_id, reason=reason)
                else:
                    outcomes[change.item_id] = Delivered(item_id=change.item_id)
        return [outcomes[c.item_id] for c in batch]

    def _prepare(self, change: Change) -> dict[str, Any]:
        """What the item writes, before any SQL: the columns it needs, by table.

        :raises Clash: for two keys that name one column.
        :raises Misfit: for an item the warehouse cannot place (no contact ID).
        """
        if isinstance(change, UpsertPerson):
            _needs_contact(change)
            values = traits(change.person, PERSON_KEYS, "person")
            return {"columns": {PERSONS_TABLE: values}}
        if isinstance(change, UpsertAccount):
            values = traits(change.account, ACCOUNT_KEYS, "account")
            return {"columns": {ACCOUNTS_TABLE: values}}
        if isinstance(change, TrackEvent):
            table = event_table(change.event.event) if change.event.type == "track" else None
            if table is None:
                return {}
            columns = property_columns(change.event.properties)
            values = {c: change.event.properties[k] for k, c in columns.items()}
            return {"columns": {table: values}, "table": table}
        if isinstance(change, UpsertMembership | AudienceEntered | AudienceExited):
            _needs_contact(change)
        return {}

    async def _apply(
        self,
        cur: psycopg.AsyncCursor[Any],
        change: Change,
        prepared: dict[str, Any],
        now: datetime,
    ) -> None:
        if isinstance(change, UpsertPerson):
            assert change.contact_id is not None
            await self._upsert_traits(
                cur, PERSONS_TABLE, "contact_id", change.contact_id, prepared, now
            )
            await self._identifiers(cur, change.contact_id, change.identifiers, now)
            await self._scores(cur, change, now)
            await self._consents(cur, change, now)
        elif isinstance(change, UpsertAccount):
            await self._upsert_traits(
                cur, ACCOUNTS_TABLE, "account_id", change.account.account_id, prepared, now
            )
        elif isinstance(change, UpsertMembership):
            assert change.contact_id is not None
            await self._membership(cur, change, now)
            await self._identifiers(cur, change.contact_id, change.identifiers, now)
        elif isinstance(change, TrackEvent):
            await self._event(cur, change, prepared, now)
            if change.contact_id is not None:
                await self._identifiers(cur, change.contact_id, change.identifiers, now)
        elif isinstance(change, AudienceEntered | AudienceExited):
            await self._audience(cur, change, now)
        elif isinstance(change, MergeContacts):
            assert change.contact_id is not None
            await self._merge(cur, change.contact_id, change.absorbed_contact_id, now)
        elif isinstance(change, Forget):
            await self._erase(
                cur, [change.contact_id] if change.contact_id else [], change.identifiers
            )
        else:
            raise Misfit(f"{change.kind} changes are not written to a warehouse")

    async def _upsert(
        self,
        cur: psycopg.AsyncCursor[Any],
        table: str,
        key: Sequence[str],
        values: dict[str, Any],
        now: datetime,
    ) -> None:
        """INSERT … ON CONFLICT DO UPDATE of every column but ``key``, only where one
        differs (compared as text, which json columns allow too)."""
        columns = list(values)
        changing = [c for c in columns if c not in key]
        if not changing:
            # Nothing but the key (a person with no traits yet): the row exists or not.
            await cur.execute(
                sql.SQL(
                    "INSERT INTO {} ({}, updated_at) VALUES ({}, %s) ON CONFLICT DO NOTHING"
                ).format(
                    self._table(table),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                    sql.SQL(", ").join(sql.Placeholder() * len(columns)),
                ),
                [*values.values(), now],
            )
            return
        statement = sql.SQL(
            "INSERT INTO {table} ({columns}, updated_at) VALUES ({marks}, %s)"
            " ON CONFLICT ({key}) DO UPDATE SET {sets}, updated_at = EXCLUDED.updated_at"
            " WHERE ({old}) IS DISTINCT FROM ({new})"
        ).format(
            table=self._table(table),
            columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
            marks=sql.SQL(", ").join(sql.Placeholder() * len(columns)),
            key=sql.SQL(", ").join(map(sql.Identifier, key)),
            sets=sql.SQL(", ").join(
                sql.SQL("{c} = EXCLUDED.{c}").format(c=sql.Identifier(c)) for c in changing
            ),
            old=sql.SQL(", ").join(
                sql.SQL("{t}.{c}::text").format(t=sql.Identifier(table), c=sql.Identifier(c))
                for c in changing
            ),
            new=sql.SQL(", ").join(
                sql.SQL("EXCLUDED.{c}::text").format(c=sql.Identifier(c)) for c in changing
            ),
        )
        await cur.execute(statement, [*values.values(), now])

    async def _upsert_traits(
        self,
        cur: psycopg.AsyncCursor[Any],
        table: str,
        key: str,
        key_value: str,
        prepared: dict[str, Any],
        now: datetime,
    ) -> None:
        # The change holds the object as it is now: a column it has no value for is
        # written NULL, so a trait the hub dropped does not linger in the warehouse.
        assert self._columns is not None
        known = self._columns[table]
        given = prepared["columns"][table]
        values: dict[str, Any] = {key: key_value}
        for column, column_family in sorted(known.items()):
            if column in (key, "updated_at"):
                continue
            try:
                values[column] = fit(given.get(column), column_family)
            except Misfit as exc:
                raise Misfit(f"{table[:-1]}.{column}: {exc}") from None
        await self._upsert(cur, table, [key], values, now)

    async def _identifiers(
        self,
        cur: psycopg.AsyncCursor[Any],
        contact_id: str,
        identifiers: Iterable[Identifier],
        now: datetime,
    ) -> None:
        for identifier in identifiers:
            await self._upsert(
                cur,
                IDENTIFIERS_TABLE,
                ["type", "value"],
                {"type": identifier.type, "value": identifier.value, "contact_id": contact_id},
                now,
            )

    async def _scores(
        self, cur: psycopg.AsyncCursor[Any], change: UpsertPerson, now: datetime
    ) -> None:
        for name in sorted(change.scores):
            detail = change.score_details.get(name)
            await self._upsert(
                cur,
                SCORES_TABLE,
                ["contact_id", "name"],
                {
                    "contact_id": change.contact_id,
                    "name": name,
                    "value": json_value(change.scores[name]),
                    "model": detail.model if detail else None,
                    "computed_at": detail.computed_at if detail else None,
                },
                now,
            )
        await self._drop_others(cur, SCORES_TABLE, "name", change.contact_id, change.scores)

    async def _consents(
        self, cur: psycopg.AsyncCursor[Any], change: UpsertPerson, now: datetime
    ) -> None:
        for purpose in sorted(change.consents):
            await self._upsert(
                cur,
                CONSENTS_TABLE,
                ["contact_id", "purpose"],
                {
                    "contact_id": change.contact_id,
                    "purpose": purpose,
                    "granted": change.consents[purpose],
                },
                now,
            )
        await self._drop_others(cur, CONSENTS_TABLE, "purpose", change.contact_id, change.consents)

    async def _drop_others(
        self, cur: psycopg.AsyncCursor[Any], table: str, key: str, contact_id: Any, kept: Any
    ) -> None:
        # An upsert_person carries the whole profile: a score or consent it does not name
        # is gone from the profile.
        await cur.execute(
            sql.SQL("DELETE FROM {} WHERE contact_id = %s AND NOT ({} = ANY(%s))").format(
                self._table(table), sql.Identifier(key)
            ),
            (contact_id, sorted(kept)),
        )

    async def _membership(
        self, cur: psycopg.AsyncCursor[Any], change: UpsertMembership, now: datetime
    ) -> None:
        m = change.membership
        # A membership seen again keeps its first start; its role and end are the latest.
        await cur.execute(
            sql.SQL(
                "INSERT INTO {t} (contact_id, account_id, role, started_at, ended_at, updated_at)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (contact_id, account_id) DO UPDATE"
                " SET role = COALESCE(EXCLUDED.role, m.role),"
                " started_at = LEAST(m.started_at, EXCLUDED.started_at),"
                " ended_at = EXCLUDED.ended_at, updated_at = EXCLUDED.updated_at"
                " WHERE (COALESCE(EXCLUDED.role, m.role), LEAST(m.started_at, EXCLUDED.started_at),"
                " EXCLUDED.ended_at) IS DISTINCT FROM (m.role, m.started_at, m.ended_at)"
            ).format(t=sql.SQL("{} AS m").format(self._table(MEMBERSHIPS_TABLE))),
            (change.contact_id, m.account_id, m.role, _utc(m.started_at), _utc(m.ended_at), now),
        )

    async def _audience(
        self, cur: psycopg.AsyncCursor[Any], change: AudienceEntered | AudienceExited, now: datetime
    ) -> None:
        entered = isinstance(change, AudienceEntered)
        moment = "entered_at" if entered else "exited_at"
        other = "exited_at" if entered else "entered_at"
        # Only a real move stamps a time: entering an audience one is in changes nothing.
        await cur.execute(
            sql.SQL(
                "INSERT INTO {t} (contact_id, audience, in_audience, {moment}, updated_at)"
                " VALUES (%s, %s, %s, %s, %s) ON CONFLICT (contact_id, audience) DO UPDATE"
                " SET in_audience = EXCLUDED.in_audience, {moment} = EXCLUDED.{moment},"
                " {other} = CASE WHEN EXCLUDED.in_audience THEN NULL ELSE a.{other} END,"
                " updated_at = EXCLUDED.updated_at"
                " WHERE a.in_audience IS DISTINCT FROM EXCLUDED.in_audience"
            ).format(
                t=sql.SQL("{} AS a").format(self._table(AUDIENCES_TABLE)),
                moment=sql.Identifier(moment),
                other=sql.Identifier(other),
            ),
            (change.contact_id, change.audience, entered, now, now),
        )

    async def _event(
        self,
        cur: psycopg.AsyncCursor[Any],
        change: TrackEvent,
        prepared: dict[str, Any],
        now: datetime,
    ) -> None:
        event = change.event
        base = {
            "id": event.message_id or change.item_id,
            "contact_id": change.contact_id,
            "user_id": event.user_id,
            "anonymous_id": event.anonymous_id,
            "event": event.event or event.name,
            "timestamp": _utc(event.timestamp or event.received_at) or now,
            "received_at": _utc(event.received_at),
        }
        # Events do not change once they happened: a second delivery is a no-op.
        await self._insert_once(
            cur,
            TRACKS_TABLE,
            {
                **base,
                "type": str(event.type),
                "properties": json_value(event.properties),
                "context": json_value(event.context),
            },
        )
        table = prepared.get("table")
        if table is None:
            return
        assert self._columns is not None
        known = self._columns[table]
        values = dict(base)
        for column, value in prepared["columns"][table].items():
            if column not in known:
                continue  # only ever null so far: no column made for it yet
            try:
                values[column] = fit(value, known[column])
            except Misfit as exc:
                raise Misfit(f"properties.{column}: {exc}") from None
        await self._insert_once(cur, table, values)

    async def _insert_once(
        self, cur: psycopg.AsyncCursor[Any], table: str, values: dict[str, Any]
    ) -> None:
        await cur.execute(
            sql.SQL("INSERT INTO {} ({}) VALUES ({}) ON CONFLICT (id) DO NOTHING").format(
                self._table(table),
                sql.SQL(", ").join(map(sql.Identifier, values)),
                sql.SQL(", ").join(sql.Placeholder() * len(values)),
            ),
            list(values.values()),
        )

    async def _merge(
        self, cur: psycopg.AsyncCursor[Any], survivor: str, absorbed: str, now: datetime
    ) -> None:
        """Everything about ``absorbed`` becomes the survivor's: its events, identifiers and
        earlier merges move; its scores, consents, memberships and audiences move where the
        survivor has none of its own (the survivor's upsert, which follows, brings the
        merged state); its ``persons`` row goes. ``contact_merges`` keeps the old ID, so
        BI can map what it stored under it."""
        if survivor == absorbed:
            return
        await cur.execute(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = %s AND column_name = 'contact_id' ORDER BY table_name",
            (self.config.schema_,),
        )
        for (table,) in await cur.fetchall():
            target = self._table(table)
            if table == PERSONS_TABLE:
                await cur.execute(
                    sql.SQL("DELETE FROM {} WHERE contact_id = %s").format(target), (absorbed,)
                )
                continue
            second = PER_CONTACT_KEYS.get(table)
            if second is None:
                await cur.execute(
                    sql.SQL("UPDATE {} SET contact_id = %s WHERE contact_id = %s").format(target),
                    (survivor, absorbed),
                )
                continue
            await cur.execute(
                sql.SQL(
                    "UPDATE {t} AS a SET contact_id = %s WHERE a.contact_id = %s AND NOT EXISTS"
                    " (SELECT 1 FROM {t} AS s WHERE s.contact_id = %s AND s.{k} = a.{k})"
                ).format(t=target, k=sql.Identifier(second)),
                (survivor, absorbed, survivor),
            )
            await cur.execute(
                sql.SQL("DELETE FROM {} WHERE contact_id = %s").format(target), (absorbed,)
            )
        await cur.execute(
            sql.SQL(
                "INSERT INTO {} (absorbed_contact_id, contact_id, merged_at) VALUES (%s, %s, %s)"
                " ON CONFLICT (absorbed_contact_id) DO NOTHING"
            ).format(self._table(MERGES_TABLE)),
            (absorbed, survivor, now),
        )

    # -- forgetting --------------------------------------------------------------------

    async def _erase(
        self,
        cur: psycopg.AsyncCursor[Any],
        contact_ids: Sequence[str],
        identifiers: Sequence[Identifier],
    ) -> int:
        """Delete every row about the person: found by contact ID, or by an identifier the
        warehouse knows. Returns how many contacts were found."""
        pairs = [(i.type, i.value) for i in identifiers]
        found = set(contact_ids)
        if pairs:
            await cur.execute(
                sql.SQL("SELECT DISTINCT contact_id FROM {} WHERE (type, value) IN ({})").format(
                    self._table(IDENTIFIERS_TABLE),
                    sql.SQL(", ").join(sql.SQL("(%s, %s)") for _ in pairs),
                ),
                [v for pair in pairs for v in pair],
            )
            found |= {row[0] for row in await cur.fetchall()}
        ids = sorted(found)
        by_value = sorted({i.value for i in identifiers if i.type in ("user_id", "anonymous_id")})
        await cur.execute(
            "SELECT table_name FROM information_schema.columns"
            " WHERE table_schema = %s AND column_name = 'contact_id' ORDER BY table_name",
            (self.config.schema_,),
        )
        for (table,) in await cur.fetchall():
            await cur.execute(
                sql.SQL("DELETE FROM {} WHERE contact_id = ANY(%s)").format(self._table(table)),
                (ids,),
            )
            if table == TRACKS_TABLE or (table not in BASE_TABLES and by_value):
                # Events sent before the hub knew whose they were carry the person's IDs.
                await cur.execute(
                    sql.SQL(
                        "DELETE FROM {} WHERE user_id = ANY(%s) OR anonymous_id = ANY(%s)"
                    ).format(self._table(table)),
                    (by_value, by_value),
                )
        if pairs:
            await cur.execute(
                sql.SQL("DELETE FROM {} WHERE (type, value) IN ({})").format(
                    self._table(IDENTIFIERS_TABLE),
                    sql.SQL(", ").join(sql.SQL("(%s, %s)") for _ in pairs),
                ),
                [v for pair in pairs for v in pair],
            )
        return len(ids)

    async def forget(self, identifiers: Sequence[Identifier]) -> Outcome:
        async with self._lock:
            conn = await self._connect()
            try:
                async with conn.transaction(), conn.cursor() as cur:
                    if self._columns is None:
                        self._columns = await self._load_columns(cur)
                    found = await self._erase(cur, [], identifiers)
            except psycopg.Error as exc:
                self._columns = None
                if conn.closed or isinstance(exc, psycopg.OperationalError):
                    await self.aclose()
                raise self._error(exc, "failed the erasure") from None
        log.info("forget: %d contact(s) erased", found)
        return Delivered(item_id="forget")


def _needs_contact(change: Change) -> None:
    if change.contact_id is None:
        raise Misfit(f"contact_id: a {change.kind} change needs the hub's contact ID")


def _utc(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
