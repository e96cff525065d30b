"""Pipeline benchmark: inbox rows into profiles, against the floor of what it writes.

For each backend (SQLite in a temporary file, then PostgreSQL in fresh schemas dropped
afterwards) ``--events`` rows (track and identify events from ``--people`` people; each
person's first event is an identify with traits, the rest are tracks) are put straight
into the inbox of a fresh store, as ingestion stores them, and processed by pipeline
workers. Printed:

- pipeline: events/s from the first claim to the last row processed (on SQLite one worker
  in this process; on PostgreSQL ``--pg-workers`` worker processes, one and then two by
  default, each on the same fresh store), and per CPU second: SQLite's process, or on
  PostgreSQL the workers' processes and, when the server runs on this machine, their
  server backends too (read from /proc), the figures load from elsewhere leaves alone;
- floor: the raw insert (DB-API ``executemany``) of every row the pipeline left behind in
  the store's tables (events, profiles, traits, identifiers, outbox, ...: whatever it
  wrote, read back from the processed store) into a second fresh store of the same schema
  and indexes, in as many transactions as the pipeline had batches; the ratio
  pipeline / floor (target on SQLite >= 0.4, >= 20k events/s);
- flood (SQLite): a live ``spokehub serve`` is sent track events for ``--flood`` seconds
  over HTTP while its own pipeline runs beside; the rows it processed during the flood,
  then during the drain that follows with nothing arriving (its rate alone), and the
  ratio (target >= 0.5).

    python bench/pipeline.py [--events 100000] [--people 10000] [--quick]
        [--pg-url URL | skip] [--pg-workers 1,2] [--flood 30] [--profile FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import itertools
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import orjson
from ingest import DEFAULT_PG, WRITE_KEY, daemon, insert_inbox, send, settle
from sqlalchemy import MetaData, event, text

from spokehub.logs import configure_logging
from spokehub.store import create_store_engine, upgrade
from spokehub.store.scratch import scratch_schema

BATCH = 200
#: The CPU seconds of the in-process worker (SQLite), run by run.
CPU_SECONDS: list[float] = []
#: (worker CPU seconds, server backend CPU seconds or None) of each multi-process run.
WORKER_CPU: list[tuple[float, float | None]] = []
#: Tables the pipeline does not write (ingestion's) or that hold what was there before.
NOT_THE_PIPELINES = {"inbox", "message_ids", "alembic_version"}


def message(n: int, people: int) -> dict:
    person = n % people
    common = {
        "userId": f"user-{person}",
        "messageId": f"m-{n}",
        "timestamp": "2026-01-02T03:04:05Z",
        "context": {"library": {"name": "bench", "version": "1"}},
    }
    if n < people:
        return {
            **common,
            "type": "identify",
            "anonymousId": f"anon-{person}",
            "traits": {"email": f"person{person}@example.com", "plan": "pro", "n": person},
        }
    return {
        **common,
        "type": "track",
        "event": "Product Viewed",
        "properties": {"sku": f"sku-{n % 97}", "price": 19.5, "n": n},
    }


def fill_inbox(engine, events: int, people: int) -> None:
    insert_inbox(engine, (message(n, people) for n in range(events)))


def project_for(store_url: str):
    from spokehub.config import validate

    return validate(
        {
            "store": {"url": store_url},
            "connections": {"web": {"kind": "source", "write_keys": [WRITE_KEY]}},
        }
    )


def table_counts(engine) -> dict[str, int]:
    with engine.connect() as conn:
        names = [t for t in engine.dialect.get_table_names(conn) if t not in NOT_THE_PIPELINES]
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in names}


def _backend_cpu(pid: int) -> float | None:
    """CPU seconds a PostgreSQL backend process has used, when the server runs on this
    machine (None otherwise)."""
    try:
        with open(f"/proc/{pid}/comm") as comm:
            if not comm.read().startswith("postgres"):
                return None
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _worker(store_url: str, barrier, done) -> None:
    """One pipeline worker process: builds its pipeline, waits for the start, processes
    batches until no row is pending anywhere (another worker may hold the last ones).
    Reports the rows it processed, its CPU seconds and its server backends' (None when
    the server is elsewhere)."""
    from spokehub.pipeline import Pipeline
    from spokehub.registry import Registry

    configure_logging(json_output=False, level=logging.ERROR)
    engine = create_store_engine(store_url)
    backends: list[int] = []

    @event.listens_for(engine, "connect")
    def _backend(dbapi_conn, _record) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("SELECT pg_backend_pid()")
        backends.append(cur.fetchone()[0])
        cur.close()

    pipeline = Pipeline(engine, project_for(store_url), Registry.load(allow=()))
    probe = text("SELECT 1 FROM inbox WHERE status = 'pending' LIMIT 1")
    gc.collect()
    gc.freeze()
    barrier.wait()
    started = {pid: _backend_cpu(pid) for pid in backends}
    cpu = time.process_time()
    processed = 0
    while True:
        stats = pipeline.run_batch()
        processed += stats.processed
        if stats.claimed == 0:
            with engine.connect() as conn:
                if conn.execute(probe).first() is None:
                    break
            time.sleep(0.005)
    cpu = time.process_time() - cpu
    now = {pid: _backend_cpu(pid) for pid in backends}
    server: float | None = None
    if all(v is not None for v in now.values()):
        server = sum(v - (started.get(pid) or 0.0) for pid, v in now.items())
    done.put((processed, cpu, server))
    engine.dispose()


def run_pipeline(store_url: str, workers: int, profile: str | None) -> float:
    """Seconds ``workers`` pipeline workers take to process every pending row; SQLite's
    one worker runs in this process (so a profile can be taken)."""
    if workers == 1 and store_url.startswith("sqlite"):
        from spokehub.pipeline import Pipeline
        from spokehub.registry import Registry

        engine = create_store_engine(store_url)
        pipeline = Pipeline(engine, project_for(store_url), Registry.load(allow=()))
        gc.collect()
        gc.freeze()
        settle()
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        pipeline.drain()
        elapsed = time.perf_counter() - started
        CPU_SECONDS.append(time.process_time() - cpu)
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(profile)
        gc.unfreeze()
        engine.dispose()
        return elapsed
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(workers + 1)
    done = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(store_url, barrier, done)) for _ in range(workers)]
    for p in procs:
        p.start()
    settle()
    barrier.wait()
    started = time.perf_counter()
    reports = [done.get() for _ in procs]
    elapsed = time.perf_counter() - started
    for p in procs:
        p.join()
    servers = [server for _, _, server in reports]
    WORKER_CPU.append(
        (
            sum(cpu for _, cpu, _ in reports),
            None if None in servers else sum(s for s in servers if s is not None),
        )
    )
    return elapsed


def floor_seconds(
    processed_url: str, fresh_url: str, before: dict[str, int], batches: int
) -> float:
    """The raw insert of every row the pipeline left in the processed store, into a fresh
    store of the same schema, in ``batches`` transactions (each a slice of every table,
    parents first as the schema's order has them)."""
    source = create_store_engine(processed_url)
    target = create_store_engine(fresh_url)
    upgrade(target)
    postgres = target.dialect.name == "postgresql"
    # Publications and the like the fresh store already has: only what the pipeline added.
    preexisting = table_counts(target)
    tables: list[tuple[str, list[str], list[tuple]]] = []
    raw = source.raw_connection()
    try:
        cur = raw.cursor()
        for name, count in table_counts(source).items():
            if count <= before.get(name, 0):
                continue
            cur.execute(f'SELECT * FROM "{name}"')
            columns = [d[0] for d in cur.description]
            rows = cur.fetchall()
            if preexisting.get(name):
                rows = rows[before.get(name, 0) :]
            if postgres:
                from psycopg.types.json import Json, Jsonb

                # json and jsonb columns (by type OID) take their values wrapped again.
                wrap = [{114: Json, 3802: Jsonb}.get(d.type_code) for d in cur.description]
                rows = [
                    tuple(
                        v if w is None or v is None else w(v) for w, v in zip(wrap, r, strict=True)
                    )
                    for r in rows
                ]
            tables.append((name, columns, rows))
        cur.close()
    finally:
        raw.close()
        source.dispose()
    reflected = MetaData()
    reflected.reflect(target)
    # Parents first, so that every slice of the stream satisfies the foreign keys.
    order = [t.name for t in reflected.sorted_tables]
    tables.sort(key=lambda t: order.index(t[0]) if t[0] in order else len(order))
    mark = "%s" if postgres else "?"
    stream: list[tuple[str, tuple]] = []
    for name, columns, rows in tables:
        cols = ", ".join(f'"{c}"' for c in columns)
        sql = f'INSERT INTO "{name}" ({cols}) VALUES ({", ".join([mark] * len(columns))})'
        stream.extend((sql, r) for r in rows)
    step = -(-len(stream) // batches)
    raw = target.raw_connection()
    try:
        cur = raw.cursor()
        settle()
        started = time.perf_counter()
        for b in range(0, len(stream), step):
            if not postgres:
                cur.execute("BEGIN IMMEDIATE")
            part = stream[b : b + step]
            for sql, group in itertools.groupby(part, key=lambda x: x[0]):
                cur.executemany(sql, [r for _, r in group])
            raw.commit()
        elapsed = time.perf_counter() - started
        cur.close()
    finally:
        raw.close()
        target.dispose()
    return elapsed


def validation_seconds(store_url: str) -> float:
    """Seconds the pipeline's own per-row checks take over every inbox row, with nothing
    written: the contract's screen, parsing and validating the message, its identifiers
    (what any pipeline that checks its input does before it touches the store)."""
    from spokehub.datacontract import load_contract
    from spokehub.pipeline.claims import InboxRow
    from spokehub.pipeline.records import to_record
    from spokehub.pipeline.screening import ContractScreen

    project = project_for(store_url)
    screen = ContractScreen(load_contract(project.contract, project.path))
    engine = create_store_engine(store_url)
    with engine.connect() as conn:
        rows = [
            InboxRow(i, c, k, m, p, b, r)
            for i, c, k, m, p, b, r in conn.execute(
                text(
                    "SELECT id, connection, kind, message_id, partition_key, body, received_at"
                    " FROM inbox ORDER BY id"
                )
            )
        ]
    engine.dispose()
    gc.collect()
    started = time.process_time()
    for row in rows:
        row, _verdict, parsed = screen.screen(row)
        to_record(row.kind, row.body, row.received_at, parsed)
    return time.process_time() - started


def measure(
    backend: str, urls, events: int, people: int, workers: int, profile: str | None
) -> tuple[float, float]:
    """(pipeline events/s, floor events/s) on fresh stores."""
    store_url, floor_url = next(urls), next(urls)
    engine = create_store_engine(store_url)
    upgrade(engine)
    fill_inbox(engine, events, people)
    # The worker publishes the contract as it starts: counted as there before.
    from spokehub.pipeline import Pipeline
    from spokehub.registry import Registry

    Pipeline(engine, project_for(store_url), Registry.load(allow=()))
    before = table_counts(engine)
    engine.dispose()
    seconds = run_pipeline(store_url, workers, profile)
    engine = create_store_engine(store_url)
    with engine.connect() as conn:
        left = conn.execute(
            text("SELECT count(*) FROM inbox WHERE status <> 'processed'")
        ).scalar_one()
    after = table_counts(engine)
    engine.dispose()
    if left:
        raise RuntimeError(f"{left} inbox rows not processed")
    floor = floor_seconds(store_url, floor_url, before, -(-events // BATCH))
    written = sum(after.values()) - sum(before.values())
    rate, floor_rate = events / seconds, events / floor
    print(
        f"{backend}, {workers} worker{'s' if workers > 1 else ''}: {events:,} events"
        f" ({people:,} people)\n"
        f"  pipeline   {rate:>9,.0f} events/s  ({seconds:.2f} s)\n"
        f"  floor      {floor_rate:>9,.0f} events/s  ({floor:.2f} s; raw insert of the"
        f" {written:,} rows it left, {written / events:.1f} per event)\n"
        f"  ratio pipeline / floor: {rate / floor_rate:.2f}",
        flush=True,
    )
    if backend == "postgresql" and WORKER_CPU:
        # The workers' CPU and their server backends': what load from elsewhere on a
        # shared machine leaves alone (the backends' only when the server runs here).
        client, server = WORKER_CPU[-1]
        line = f"  pipeline   {events / client:>9,.0f} events per worker CPU second"
        if server is not None:
            line += (
                f", {events / (client + server):,.0f} per CPU second with the server's"
                f" ({1e6 * client / events:.0f} + {1e6 * server / events:.0f} us an event)"
            )
        print(line, flush=True)
    if backend == "sqlite" and CPU_SECONDS:
        # The whole store runs in this process: its CPU time is what load from elsewhere
        # on a shared machine leaves alone.
        cpu_rate = events / CPU_SECONDS[-1]
        print(
            f"  pipeline   {cpu_rate:>9,.0f} events per CPU second"
            f" ({cpu_rate / floor_rate:.2f} x floor)",
            flush=True,
        )
        checks = events / validation_seconds(store_url)
        print(
            f"  checks alone {checks:>7,.0f} events per CPU second ({checks / floor_rate:.2f} x"
            " floor; screening and validating each row, nothing written)",
            flush=True,
        )
    return rate, floor_rate


def flood(seconds: float, people: int) -> None:
    """A live daemon on SQLite, sent track events over HTTP for ``seconds`` while its
    pipeline runs; its pipeline's rate beside ingestion, then alone while it drains."""
    # Enough events for the whole flood at well above today's acknowledged rate (86k/s
    # with the pipeline starved): the flood must not end early for want of requests.
    per_request, total = 250, int(seconds * 120_000)
    bodies = [
        orjson.dumps({"batch": [message(people + n + i, people) for i in range(per_request)]})
        for n in range(0, total, per_request)
    ]
    processed_q = text("SELECT count(*) FROM inbox WHERE status <> 'pending'")
    stored_q = text("SELECT count(*) FROM inbox")
    with tempfile.TemporaryDirectory() as tmp:
        store_url = f"sqlite:///{Path(tmp) / 'hub.db'}"
        engine = create_store_engine(store_url)
        reader = engine.execution_options(readonly=True)

        def counts() -> tuple[int, int]:
            with reader.connect() as conn:
                return (
                    conn.execute(processed_q).scalar_one(),
                    conn.execute(stored_q).scalar_one(),
                )

        with daemon(store_url, Path(tmp)) as url:
            settle()
            started = time.perf_counter()

            async def bounded() -> None:
                with suppress(TimeoutError):
                    await asyncio.wait_for(send(url, bodies, 12), seconds)

            asyncio.run(bounded())
            during = time.perf_counter() - started
            done_flood, stored = counts()
            # Alone: the backlog drains with nothing arriving; measured over up to a
            # minute, up to the last look at which rows were still pending (the interval
            # in which it emptied was partly idle, and would understate the rate).
            t0, p0 = time.perf_counter(), done_flood
            t1, p1, in_inbox = t0, p0, stored
            while time.perf_counter() - t0 < 60:
                time.sleep(5)
                # Requests cut off by the flood's end may still commit after it.
                processed, in_inbox = counts()
                if processed >= in_inbox and p1 > p0:
                    break
                t1, p1 = time.perf_counter(), processed
                if processed >= in_inbox:
                    break
            alone_seconds = t1 - t0
        engine.dispose()
    beside = done_flood / during
    alone = (p1 - p0) / alone_seconds
    left = in_inbox - p1
    print(
        f"sqlite, flood of {during:.0f} s: {stored:,} events acknowledged"
        f" ({stored / during:,.0f}/s)\n"
        f"  pipeline beside ingestion {beside:>9,.0f} events/s ({done_flood:,} rows)\n"
        f"  pipeline alone afterwards {alone:>9,.0f} events/s ({p1 - p0:,} rows in"
        f" {alone_seconds:.0f} s; {left:,} still pending)\n"
        f"  ratio beside / alone: {beside / alone:.2f} (target >= 0.5)",
        flush=True,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="10,000 events, 5 s flood")
    parser.add_argument("--pg-url", default=DEFAULT_PG, help="PostgreSQL ('skip': SQLite only)")
    parser.add_argument("--pg-workers", default="1,2", help="worker counts on PostgreSQL")
    parser.add_argument("--flood", type=float, default=30.0, help="seconds; 0: no flood")
    parser.add_argument("--profile", help="write a cProfile of the SQLite run here")
    parser.add_argument("--only", choices=("sqlite", "postgresql", "flood"), action="append")
    args = parser.parse_args()
    if args.quick:
        args.events, args.people, args.flood = 10_000, 1_000, 5.0
    configure_logging(json_output=False, level=logging.ERROR)
    only = set(args.only or ("sqlite", "postgresql", "flood"))
    if "sqlite" in only:
        with tempfile.TemporaryDirectory() as tmp:
            urls = iter(f"sqlite:///{Path(tmp) / f'{n}.db'}" for n in range(10))
            rate, floor = measure("sqlite", urls, args.events, args.people, 1, args.profile)
            met = rate >= 20_000 and rate / floor >= 0.4
            print(
                f"  SQLite target (>= 20,000 events/s, >= 0.4 x floor):"
                f" {'met' if met else 'NOT met'}"
            )
    if "postgresql" in only and args.pg_url != "skip":
        rates = {}
        for workers in (int(w) for w in args.pg_workers.split(",")):
            with ExitStack() as stack:
                urls = iter(
                    stack.enter_context(scratch_schema(args.pg_url, "bench")) for _ in range(2)
                )
                rates[workers], _ = measure(
                    "postgresql", urls, args.events, args.people, workers, None
                )
        if 1 in rates:
            print(
                f"  PostgreSQL target (>= 5,000 events/s, one worker): "
                f"{'met' if rates[1] >= 5000 else 'NOT met'}"
            )
        if 1 in rates and 2 in rates:
            scale = rates[2] / rates[1]
            print(
                f"  two workers / one: {scale:.2f} (target >= 1.2):"
                f" {'met' if scale >= 1.2 else 'NOT met'}"
            )
    if "flood" in only and args.flood > 0:
        flood(args.flood, args.people)
    return 0


if __name__ == "__main__":
    sys.exit(main())
