"""Pull benchmark: a PostgreSQL table of customers into hub profiles, beside dlt.

A table of ``--rows`` customers (1,000,000 by default; e-mail, names, city, plan,
lifetime value, ``updated_at``) is generated in a fresh PostgreSQL schema, dropped
afterwards. Then, each in its own process so that its peak RSS is its own:

- **pull**: ``spokehub sync run`` of a ``postgres`` source over the table (incremental on
  ``updated_at``, pages of ``--page-size`` rows through a server-side cursor, a
  checkpoint per page) into the inbox of a fresh SQLite store;
- **pipeline**: ``spokehub pipeline run --once`` turning the inbox into profiles (identity
  resolution, traits with provenance, the outbox);
- **dlt** (the peer figure): dlt's ``sql_table`` source over the same table, incremental on
  the same column, loaded into a local DuckDB file (extract, normalize, load).

It prints rows/s for the pull and for the whole path (pull + pipeline, rows with a
profile at the end), peak RSS of each process (target < 300 MiB: the pull holds one page
at a time), dlt's rows/s and peak RSS, and the ratios. dlt only copies rows into a table;
the hub's whole path also resolves identities and builds profiles, so the pull alone is
the like-for-like figure and the whole path is what a user waits for.

    python bench/pull.py                  # 1,000,000 rows (what `make bench` runs)
    python bench/pull.py --rows 50000     # smaller (or --quick: 50,000)
    python bench/pull.py --skip-dlt       # the hub alone

Needs the PostgreSQL server of ``--pg-url`` (default ``SPOKEHUB_TEST_PG_URL`` or the
local one); without it the benchmark says so and exits 0. dlt is a bench-only dependency
(``make bench`` installs the ``bench`` dependency group).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import yaml

DEFAULT_PG = os.environ.get(
    "SPOKEHUB_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
TARGET_RSS_MIB = 300.0


def libpq(url: str) -> str:
    scheme, sep, rest = url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


@dataclass
class Measured:
    seconds: float
    cpu_seconds: float
    peak_mib: float
    code: int
    output: str


def measure(cmd: list[str], env: dict[str, str], cwd: Path) -> Measured:
    """Run ``cmd``; its wall time and its own peak RSS (``wait4``'s resource usage)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=False
    )
    assert proc.stdout is not None
    output = proc.stdout.read()
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(
        seconds, cpu, usage.ru_maxrss / 1024, proc.returncode, output.decode(errors="replace")
    )


def make_table(url: str, schema: str, rows: int) -> float:
    import psycopg

    started = time.perf_counter()
    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
        conn.execute(
            f'CREATE TABLE "{schema}".customers (id bigint PRIMARY KEY, email text NOT NULL, '
            "first_name text, last_name text, city text, plan text, "
            "lifetime_value numeric(12, 2), updated_at timestamptz NOT NULL)"
        )
        conn.execute(
            f'INSERT INTO "{schema}".customers SELECT n, '
            "'customer' || n || '@example.com', 'First' || (n % 5000), 'Last' || (n % 7919), "
            "(ARRAY['Berlin','Paris','Lisbon','Oslo','Rome'])[1 + n % 5], "
            "(ARRAY['free','pro','team'])[1 + n % 3], (n % 100000) / 7.0, "
            "timestamptz '2026-01-01 00:00+00' + n * interval '1 second' "
            f"FROM generate_series(1, {rows}) AS n"
        )
        conn.execute(f'ANALYZE "{schema}".customers')
    return time.perf_counter() - started


def drop_schema(url: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def write_project(folder: Path, source_url: str, page_size: int) -> Path:
    config = folder / "spokehub.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{folder / 'hub.db'}"},
                "connections": {
                    "warehouse": {
                        "kind": "source",
                        "spoke": "postgres",
                        "config": {
                            "url": source_url,
                            "streams": [
                                {
                                    "name": "customers",
                                    "table": "customers",
                                    "kind": "person",
                                    "cursor": "updated_at",
                                    "primary_key": ["id"],
                                    "identifiers": {
                                        "email": "email",
                                        "id": "crm:customer_id",
                                    },
                                    "page_size": page_size,
                                }
                            ],
                        },
                    }
                },
            }
        )
    )
    return config


def hub_counts(folder: Path) -> tuple[int, int]:
    """Inbox rows and live profiles in the benchmark's store."""
    import sqlite3

    with sqlite3.connect(folder / "hub.db") as conn:
        inbox = conn.execute("SELECT count(*) FROM inbox").fetchone()[0]
        profiles = conn.execute(
            "SELECT count(*) FROM profiles WHERE merged_into IS NULL"
        ).fetchone()[0]
    return inbox, profiles


def dlt_child(url: str, schema: str, folder: str, chunk: int) -> None:
    """Load the table with dlt into DuckDB (run in its own process); prints the rows."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
    import dlt
    from dlt.sources.sql_database import sql_table

    table = sql_table(
        credentials=url,
        schema=schema,
        table="customers",
        chunk_size=chunk,
        incremental=dlt.sources.incremental("updated_at"),
    )
    pipeline = dlt.pipeline(
        pipeline_name="bench_pull",
        pipelines_dir=str(Path(folder) / "pipelines"),
        destination=dlt.destinations.duckdb(str(Path(folder) / "bench_pull.duckdb")),
        dataset_name="customers_peer",
    )
    pipeline.run(table)
    with pipeline.sql_client() as client:
        rows = client.execute_sql("SELECT count(*) FROM customers")[0][0]
    print(json.dumps({"rows": rows}))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--quick", action="store_true", help="50,000 rows")
    parser.add_argument("--page-size", type=int, default=5000)
    parser.add_argument("--pg-url", default=DEFAULT_PG)
    parser.add_argument("--skip-dlt", action="store_true")
    parser.add_argument(
        "--pull-only", action="store_true", help="leave the pipeline out (pull and dlt only)"
    )
    parser.add_argument("--dlt-child", nargs=3, metavar=("URL", "SCHEMA", "DIR"))
    # make bench passes every script the same flags; the others' are not ours.
    args, _unknown = parser.parse_known_args(argv)
    if args.dlt_child:
        dlt_child(*args.dlt_child, chunk=args.page_size)
        return 0
    rows = 50_000 if args.quick else args.rows
    if args.pg_url == "skip":
        print("pull: skipped (--pg-url skip)")
        return 0
    try:
        import psycopg

        psycopg.connect(libpq(args.pg_url), connect_timeout=3).close()
    except Exception as exc:
        print(f"pull: skipped, no PostgreSQL server ({type(exc).__name__})")
        return 0

    schema = f"bench_pull_{uuid.uuid4().hex[:8]}"
    sep = "&" if "?" in args.pg_url else "?"
    source_url = f"{libpq(args.pg_url)}{sep}options=-csearch_path%3D{schema}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPOKEHUB_")}
    env["SPOKEHUB_PLUGINS"] = "postgres"
    spokehub = [sys.executable, "-m", "spokehub", "--log-format", "json"]
    try:
        made = make_table(args.pg_url, schema, rows)
        print(f"table: {rows:,} customers generated in {made:.1f} s (not timed below)")
        with tempfile.TemporaryDirectory(prefix="spokehub-pull-") as tmp:
            folder = Path(tmp)
            config = write_project(folder, source_url, args.page_size)
            migrate = measure([*spokehub, "-c", str(config), "db", "upgrade"], env, folder)
            if migrate.code != 0:
                print(migrate.output[-2000:])
                return 1
            pull = measure(
                [*spokehub, "-c", str(config), "sync", "run", "warehouse", "--no-progress"],
                env,
                folder,
            )
            if pull.code != 0:
                print(pull.output[-3000:])
                return 1
            inbox, _ = hub_counts(folder)
            pipe: Measured | None = None
            profiles = 0
            if not args.pull_only:
                pipe = measure(
                    [*spokehub, "-c", str(config), "pipeline", "run", "--once"], env, folder
                )
                if pipe.code != 0:
                    print(pipe.output[-3000:])
                    return 1
                _, profiles = hub_counts(folder)
            peer: Measured | None = None
            peer_rows = 0
            if not args.skip_dlt:
                peer = measure(
                    [
                        sys.executable,
                        __file__,
                        "--page-size",
                        str(args.page_size),
                        "--dlt-child",
                        args.pg_url,
                        schema,
                        str(folder / "dlt"),
                    ],
                    {**os.environ, "RUNTIME__DLTHUB_TELEMETRY": "false"},
                    folder,
                )
                if peer.code != 0:
                    print("dlt failed:\n" + peer.output[-3000:])
                else:
                    peer_rows = json.loads(peer.output.strip().splitlines()[-1])["rows"]
    finally:
        drop_schema(args.pg_url, schema)

    pull_rate = rows / pull.seconds
    print(f"\nrows: {rows:,}; page size {args.page_size:,}")
    print(
        f"hub pull (sync run -> inbox):       {pull_rate:>10,.0f} rows/s "
        f"({pull.seconds:.1f} s; {rows / pull.cpu_seconds:,.0f}/CPU s), "
        f"peak RSS {pull.peak_mib:.0f} MiB; {inbox:,} inbox rows"
    )
    whole_rate: float | None = None
    peak = pull.peak_mib
    if pipe is not None:
        whole = pull.seconds + pipe.seconds
        whole_rate = rows / whole
        peak = max(peak, pipe.peak_mib)
        print(
            f"hub pipeline (inbox -> profiles):   {rows / pipe.seconds:>10,.0f} rows/s "
            f"({pipe.seconds:.1f} s; {rows / pipe.cpu_seconds:,.0f}/CPU s), "
            f"peak RSS {pipe.peak_mib:.0f} MiB; {profiles:,} profiles"
        )
        print(f"hub whole path (pull + pipeline):   {whole_rate:>10,.0f} rows/s ({whole:.1f} s)")
    ok_rss = peak < TARGET_RSS_MIB
    print(
        f"peak RSS target < {TARGET_RSS_MIB:.0f} MiB: {'met' if ok_rss else 'NOT met'} "
        f"({peak:.0f} MiB)"
    )
    if peer is not None and peer.code == 0:
        peer_rate = peer_rows / peer.seconds if peer.seconds else 0.0
        print(
            f"dlt sql_table -> duckdb (peer):     {peer_rate:>10,.0f} rows/s "
            f"({peer.seconds:.1f} s; {peer_rows / peer.cpu_seconds:,.0f}/CPU s), "
            f"peak RSS {peer.peak_mib:.0f} MiB; {peer_rows:,} rows"
        )
        whole_text = f"hub whole path / dlt: {whole_rate / peer_rate:.2f}x; " if whole_rate else ""
        print(
            f"ratio hub pull / dlt: {pull_rate / peer_rate:.2f}x; {whole_text}"
            f"per CPU second, pull / dlt {peer.cpu_seconds / pull.cpu_seconds:.2f}x"
        )
    correct = (
        inbox == rows and (pipe is None or profiles == rows) and (peer is None or peer_rows == rows)
    )
    if not correct:
        print(f"MISMATCH: expected {rows:,} inbox rows, profiles and dlt rows")
    return 0 if correct else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
