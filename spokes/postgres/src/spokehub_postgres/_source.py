"""The PostgreSQL source: tables and queries read into the hub.

A stream with a ``cursor`` column is read incrementally: rows past the saved position,
ordered by the cursor (and the primary key, which breaks ties so that a checkpoint in the
middle of equal cursor values is exact), through a server-side cursor a page at a time,
with a checkpoint after every page. Memory stays at one page however large the table.

A stream without a cursor is read whole on every run and compared with the last run, as
Hightouch does: the state keeps each row's key with a short hash of its values, and only
new and changed rows become records; rows whose key is gone become deletions (see
:meth:`Plan.deletion`). One checkpoint at the end carries the new snapshot, so a run that
stops half-way sends its changes again next time (the hub drops what it has already seen).

psycopg is imported when a read or check starts, not when the hub loads the spoke.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from spokehub_contracts import (
    Capabilities,
    CheckResult,
    CheckStatus,
    ConfigError,
    RejectedRecord,
    Source,
    SourceRecord,
    StateCheckpoint,
    Stream,
    TransientError,
    utcnow,
)

from ._rows import Plan, cursor_value
from ._source_config import PostgresSourceConfig, SourceStream

if TYPE_CHECKING:
    import psycopg

#: How each kind of stream is read, for `spokehub spokes` and the stream list.
_DESCRIPTION = {
    True: "rows past the saved {cursor} value, in pages",
    False: "the whole result, compared with the last run (changes and deletions)",
}


def libpq_url(url: str) -> str:
    """A SQLAlchemy-style URL (``postgresql+psycopg://``) as libpq takes it."""
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}" if sep else url


def _source_sql(stream: SourceStream) -> Any:
    from psycopg import sql

    if stream.table is not None:
        return sql.SQL(".").join(sql.Identifier(p) for p in stream.table.split("."))
    return sql.SQL("({})").format(sql.SQL(stream.query))  # type: ignore[arg-type]


class PostgresSource(Source):
    """Reads tables and queries of a PostgreSQL database as streams of people, accounts,
    memberships or model scores."""

    name: ClassVar[str] = "postgres"
    description: ClassVar[str] = "PostgreSQL tables and queries, incrementally or as diffs"
    Config: ClassVar[type[PostgresSourceConfig]] = PostgresSourceConfig  # type: ignore[assignment]
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=["person", "account", "membership", "score", "privacy_request"],
        incremental=True,
    )

    config: PostgresSourceConfig

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        try:
            return await psycopg.AsyncConnection.connect(
                libpq_url(self.config.url.get_secret_value()),
                connect_timeout=10,
                application_name="spokehub",
            )
        except psycopg.OperationalError as exc:
            # libpq's message names host and user, never the password; still, keep to
            # the class of failure.
            raise TransientError(f"cannot connect to the database ({_failure(exc)})") from None

    async def check(self) -> CheckResult:
        """OK when the database answers and every stream's columns are there."""
        import psycopg

        try:
            conn = await psycopg.AsyncConnection.connect(
                libpq_url(self.config.url.get_secret_value()), connect_timeout=10
            )
        except psycopg.OperationalError as exc:
            failure = _failure(exc)
            status = (
                CheckStatus.AUTH_ERROR
                if failure == "authentication failed"
                else (CheckStatus.UNREACHABLE)
            )
            return CheckResult(status=status, message=f"cannot connect: {failure}")
        problems: list[str] = []
        try:
            for stream in self.config.streams:
                try:
                    await self._plan(conn, stream)
                except ConfigError as exc:
                    problems.append(str(exc))
                except psycopg.Error as exc:
                    problems.append(f"streams.{stream.name}: {type(exc).__name__}")
                    await conn.rollback()
        finally:
            await conn.close()
        if problems:
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message="; ".join(problems))
        return CheckResult(
            status=CheckStatus.OK, message=f"{len(self.config.streams)} stream(s) ready"
        )

    async def streams(self) -> Sequence[Stream]:
        return [
            Stream(
                name=s.name,
                kind=s.kind,
                incremental=s.cursor is not None,
                description=_DESCRIPTION[s.cursor is not None].format(cursor=s.cursor),
            )
            for s in self.config.streams
        ]

    async def _plan(self, conn: psycopg.AsyncConnection[Any], stream: SourceStream) -> Plan:
        from psycopg import sql

        async with conn.cursor() as cur:
            await cur.execute(
                sql.SQL("SELECT * FROM {} AS src LIMIT 0").format(_source_sql(stream))
            )
            columns = [d.name for d in cur.description or ()]
        return Plan.make(stream, columns)

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        """Yield the stream's rows past ``state`` as records, with a checkpoint per page
        (incremental) or at the end (diff).

        :raises ConfigError: an unknown stream, or a column the stream names is missing
            (the message names the column and what it was for).
        """
        try:
            config = self.config.stream(stream)
        except KeyError:
            raise ConfigError("stream", f"no stream {stream!r} in this connection") from None
        conn = await self._connect()
        try:
            plan = await self._plan(conn, config)
            if config.cursor is not None:
                async for item in self._incremental(conn, plan, state):
                    yield item
            else:
                async for item in self._diff(conn, plan, state):
                    yield item
        finally:
            await conn.close()

    async def _pages(
        self, conn: psycopg.AsyncConnection[Any], query: Any, params: Sequence[Any], size: int
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        # A named (server-side) cursor: the server holds the result and sends a page per
        # fetch, so a million rows never sit in this process at once.
        async with conn.transaction(), conn.cursor(name="spokehub_read") as cur:
            cur.itersize = size
            await cur.execute(query, params)
            while rows := await cur.fetchmany(size):
                yield rows

    async def _incremental(
        self,
        conn: psycopg.AsyncConnection[Any],
        plan: Plan,
        state: Mapping[str, Any] | None,
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        from psycopg import sql

        stream = plan.stream
        assert stream.cursor is not None and plan.cursor is not None
        order = [stream.cursor, *stream.primary_key]
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in order)
        query = sql.SQL("SELECT * FROM {} AS src").format(_source_sql(stream))
        params: list[Any] = []
        if state and "cursor" in state:
            key = state.get("key")
            if key is not None and stream.primary_key:
                # Row comparison: past the saved (cursor, key) exactly, ties included.
                marks = sql.SQL(", ").join(sql.Placeholder() * len(order))
                query += sql.SQL(" WHERE ({}) > ({})").format(columns, marks)
                params = [state["cursor"], *key]
            else:
                query += sql.SQL(" WHERE {} > %s").format(sql.Identifier(stream.cursor))
                params = [state["cursor"]]
        else:
            query += sql.SQL(" WHERE {} IS NOT NULL").format(sql.Identifier(stream.cursor))
        query += sql.SQL(" ORDER BY {}").format(columns)
        async for rows in self._pages(conn, query, params, stream.page_size):
            now = utcnow()
            for row in rows:
                for item in plan.records(row, now):
                    yield item
            last = rows[-1]
            yield StateCheckpoint(
                stream=stream.name,
                state={
                    "cursor": cursor_value(last[plan.cursor]),
                    "key": [cursor_value(last[i]) for i in plan.key] if plan.key else None,
                },
            )
            await asyncio.sleep(0)  # let a stop request or the lease keeper in

    async def _diff(
        self,
        conn: psycopg.AsyncConnection[Any],
        plan: Plan,
        state: Mapping[str, Any] | None,
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        from psycopg import sql

        stream = plan.stream
        before: dict[str, list[Any]] = dict((state or {}).get("rows", {}))
        after: dict[str, list[Any]] = {}
        query = sql.SQL("SELECT * FROM {} AS src").format(_source_sql(stream))
        async for rows in self._pages(conn, query, [], stream.page_size):
            now = utcnow()
            for row in rows:
                key = plan.key_of(row)
                assert key is not None  # a diff stream has a primary key
                entry = plan.remembered(row)
                after[key] = entry
                old = before.get(key)
                if old is not None and old[0] == entry[0]:
                    continue
                for item in plan.records(row, now):
                    yield item
            await asyncio.sleep(0)
        gone = [k for k in before if k not in after]
        if gone and not after and not stream.allow_empty:
            raise ConfigError(
                f"streams.{stream.name}",
                f"{plan.where} returned no rows where the last run read {len(before)}; "
                "refusing to delete them all (set allow_empty: true if that is meant)",
            )
        if stream.deletes:
            now = utcnow()
            for key in gone:
                for record in plan.deletion(key, before[key], now):
                    yield record
        yield StateCheckpoint(stream=stream.name, state={"rows": after})


def _failure(exc: Exception) -> str:
    """The kind of connection failure, without the server's words (which name users)."""
    text = str(exc).lower()
    if "password authentication failed" in text or "authentication failed" in text:
        return "authentication failed"
    if "does not exist" in text:
        return "database or role does not exist"
    if "timeout" in text:
        return "timed out"
    return "connection refused or server unreachable"
