"""Audiences benchmark: the pipeline's rate with 20 audiences and 2 journeys defined
against none, and the cost of a reconcile.

A fresh SQLite store per round gets ``--events`` inbox rows from ``--users`` people (one
identify each, then track events: a fifth ``Order Completed`` with a total, the rest
``Product Viewed``), and a pipeline worker in this process drains it. The project either
defines nothing to activate (the baseline) or 20 audiences over traits, scores, consents,
memberships and events (counts, sums, windows, all/any/not) mapped to a destination,
plus two journeys. The two variants run in turn for ``--rounds`` rounds, each round
starting with the other, and the medians are compared: events per second on the clock
and per second of this process's CPU (the store runs in this process too, so the CPU
rate is what a shared machine disturbs least). Then, on the store with audiences, a
reconcile 31 days later (every order ages out of its windows) is timed. Every figure is
measured on this run; nothing is asserted.

    python bench/audiences.py [--events 20000] [--users 2000] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from spokehub.activation import Activation
from spokehub.config import validate
from spokehub.ingest import partition_key
from spokehub.pipeline import Pipeline
from spokehub.registry import Registry
from spokehub.store import create_store_engine, upgrade

WINDOWS = [7, 14, 30, 60, 90]


def audiences() -> dict:
    """20 audiences of the kinds marketing writes."""
    out: dict = {}
    for i, days in enumerate(WINDOWS):
        out[f"buyers_{days}d"] = {"where": {"event": "Order Completed", "within_days": days}}
        out[f"spent_{days}d"] = {
            "where": {
                "event": "Order Completed",
                "within_days": days,
                "sum": {"property": "total", "gte": 50 * (i + 1)},
            }
        }
    out.update(
        {
            "repeat_buyers": {"where": {"event": "Order Completed", "count": {"gte": 2}}},
            "browsers": {
                "where": {
                    "all": [
                        {"event": "Product Viewed", "within_days": 7, "count": {"gte": 3}},
                        {"not": {"event": "Order Completed", "within_days": 30}},
                    ]
                }
            },
            "prospects": {
                "where": {
                    "all": [
                        {"trait": "email", "exists": True},
                        {"not": {"event": "Order Completed"}},
                    ]
                }
            },
            "pros": {"where": {"trait": "plan", "eq": "pro"}},
            "vip": {
                "where": {
                    "any": [
                        {"score": "lifetime_value", "gte": 1000},
                        {"trait": "plan", "eq": "vip"},
                    ]
                }
            },
            "churn_risk": {"where": {"score": "churn_risk", "gte": 0.7}},
            "mailable": {"where": {"consent": "email_marketing", "granted": True}},
            "acme": {"where": {"account": "acme"}},
            "b2b": {"where": {"account": "*"}},
            "germans": {"where": {"trait": "country", "in": ["DE", "AT", "CH"]}},
        }
    )
    assert len(out) == 20
    for a in out.values():
        a["to"] = ["ads"]
    return out


JOURNEYS = {
    "onboarding": {
        "trigger": {"event": "Order Completed"},
        "after": "3d",
        "send": {"event": "Onboarding Due", "to": "ads"},
    },
    "browse_abandon": {
        "trigger": {"event": "Product Viewed"},
        "after": "1d",
        "if": {"not": {"event": "Order Completed", "within_days": 1}},
        "send": {"event": "Still Looking", "to": "ads"},
    },
}


def project(store_url: str, activated: bool):
    return validate(
        {
            "store": {"url": store_url},
            "connections": {
                "web": {"kind": "source", "write_keys": ["wk-bench-1"]},
                "ads": {"kind": "destination", "spoke": "files"},
            },
            "audiences": audiences() if activated else {},
            "journeys": JOURNEYS if activated else {},
        }
    )


def messages(events: int, users: int) -> list[dict]:
    now = datetime.now(UTC)
    out: list[dict] = []
    plans = ["free", "pro", "vip"]
    for u in range(users):
        out.append(
            {
                "type": "identify",
                "userId": f"user-{u}",
                "traits": {
                    "email": f"user-{u}@example.com",
                    "plan": plans[u % 3],
                    "country": ["DE", "FR", "US"][u % 3],
                },
            }
        )
    n = 0
    while len(out) < events:
        u = n % users
        order = n % 5 == 0
        out.append(
            {
                "type": "track",
                "userId": f"user-{u}",
                "event": "Order Completed" if order else "Product Viewed",
                "properties": {"total": 20 + n % 90} if order else {"sku": f"sku-{n % 50}"},
                "timestamp": (now - timedelta(days=n % 40)).isoformat(),
            }
        )
        n += 1
    for m in out:
        m["messageId"] = str(uuid.uuid4())
        m["receivedAt"] = now.isoformat()
    return out


def fill(engine, rows: list[dict]) -> None:
    moment = datetime.now(UTC).isoformat(" ", "microseconds")[:26]
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        cur.executemany(
            "INSERT INTO inbox (connection, kind, message_id, partition_key, body,"
            " received_at, status) VALUES (?, ?, ?, ?, ?, ?, 'pending')",
            [
                ("web", "event", m["messageId"], partition_key(m), orjson.dumps(m).decode(), moment)
                for m in rows
            ],
        )
        raw.commit()
        cur.close()
    finally:
        raw.close()


def one_run(directory: Path, rows: list[dict], activated: bool) -> tuple[float, float, object]:
    store_url = f"sqlite:///{directory / f'{uuid.uuid4().hex}.db'}"
    engine = create_store_engine(store_url)
    upgrade(engine)
    fill(engine, rows)
    proj = project(store_url, activated)
    pipeline = Pipeline(engine, proj, Registry.load(allow=()))
    gc.collect()
    gc.freeze()
    os.sync()
    try:
        started, cpu = time.perf_counter(), time.process_time()
        stats = pipeline.drain()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    finally:
        gc.unfreeze()
    if stats.processed != len(rows):
        raise RuntimeError(f"{stats.processed} of {len(rows)} processed")
    return elapsed, cpu, (engine, proj)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--users", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="same as --events 5000 --rounds 1")
    args, _ = parser.parse_known_args()
    if args.quick:
        args.events, args.rounds, args.users = 5_000, 1, 500
    rows = messages(args.events, args.users)
    wall: dict[bool, list[float]] = {False: [], True: []}
    cpu: dict[bool, list[float]] = {False: [], True: []}
    kept = None
    with tempfile.TemporaryDirectory() as tmp:
        for n in range(args.rounds):
            for activated in (False, True) if n % 2 == 0 else (True, False):
                seconds, cpu_seconds, (engine, proj) = one_run(Path(tmp), rows, activated)
                wall[activated].append(seconds)
                cpu[activated].append(cpu_seconds)
                if activated and kept is None:
                    kept = (engine, proj)
                else:
                    engine.dispose()
        print(
            f"SQLite: pipeline alone, {args.events} events of {args.users} people,"
            f" median of {args.rounds} rounds"
        )
        for activated, label in ((False, "no audiences"), (True, "20 audiences, 2 journeys")):
            rate = args.events / statistics.median(wall[activated])
            cpu_rate = args.events / statistics.median(cpu[activated])
            runs = ", ".join(f"{args.events / t:,.0f}" for t in wall[activated])
            print(
                f"  {label:<26} {rate:>7,.0f} events/s (rounds {runs});"
                f" {cpu_rate:>7,.0f} per CPU second"
            )
        ratio = statistics.median(wall[False]) / statistics.median(wall[True])
        cpu_ratio = statistics.median(cpu[False]) / statistics.median(cpu[True])
        print(
            f"  with audiences / without: {ratio:.2f} x on the clock,"
            f" {cpu_ratio:.2f} x per CPU second"
        )
        assert kept is not None
        engine, proj = kept

        class Later:
            def now(self) -> datetime:
                return datetime.now(UTC) + timedelta(days=31)

        activation = Activation(proj, Later())
        first = time.perf_counter()
        stats = activation.reconcile(engine)
        full = time.perf_counter() - first
        print(
            f"  first reconcile (every audience in full, {args.users} profiles) 31 days on:"
            f" {full:.2f} s, {sum(stats.entered.values())} entries,"
            f" {sum(stats.exited.values())} exits"
        )
        again = time.perf_counter()
        stats = activation.reconcile(engine)
        print(
            f"  next reconcile (only profiles whose events crossed a window's edge):"
            f" {time.perf_counter() - again:.3f} s, {sum(stats.decided.values())} decisions"
        )
        engine.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
