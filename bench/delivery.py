"""Delivery benchmark: throughput against a rate-limited vendor, and latency at low load.

A fake vendor allows 50 requests/s (a sliding one-second window, enforced by the server:
a request beyond it is answered 429) and takes 100 items per request, so the theoretical
maximum is 5000 items/s. The vendor runs in a process of its own on 127.0.0.1, so that it
does not compete with the lanes for the interpreter. The script prints:

- throughput: a backlog drained by one lane, end to end: items over the time from the
  lane's first request to the last outcome recorded in the outbox (both read from the
  store: the first ``delivery_attempts.started_at`` and the last ``outbox.finished_at``),
  compared with the theoretical maximum (target >= 0.95). Start-up, every batch's
  claim, call and record, and the tail all count. A sliding-window budget may be used
  at once in the first window, so a perfect lane draining ``50 x k`` requests would
  take ``k - 1`` seconds and score ``k / (k - 1)``; with 400 requests that is 1.14.
  Beside it, the *sustained* rate where the vendor counts, over whole budgets: the time
  from the first accepted request to the one ``50 x q`` requests later, for as many
  full budgets ``q`` as the run holds (no first-window credit), and the time from the
  lanes' start.
- latency: p50/p99 from the outbox row being written to its outcome being recorded, at
  20 items/s (target p99 < 500 ms).

Every figure is measured on this run, on a fresh SQLite store.

    python bench/delivery.py [--items 40000] [--seconds 10] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from spokehub.delivery import DeliverySettings, run_lanes
from spokehub.registry import Registry
from spokehub.store import create_store_engine, upgrade
from spokehub.store.driver_sql import utc, utcnow
from spokehub.store.tables import delivery_attempts, outbox
from spokehub.testing.fake_spoke import destination_class, plugin
from spokehub.testing.outbox import event, fill, make_project
from spokehub_contracts import RateLimit

RATE = 50
BATCH = 100
MAXIMUM = RATE * BATCH
# Workers in flight: one waits for the vendor while another records its batch and claims
# the next.
SETTINGS = DeliverySettings(concurrency=4)


class VendorProcess:
    """The fake vendor in a subprocess; it exits when its stdin closes."""

    def __init__(self, rate: int, per: float = 1.0) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", "spokehub.testing.fake_vendor"),
                *("--rate", str(rate)),
                *("--per", str(per)),
                "--until-stdin-closes",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        if not line.startswith("http://127.0.0.1:"):
            self.stop()
            raise RuntimeError("the fake vendor did not start")
        self.url = line

    def stats(self) -> dict[str, Any]:
        response = httpx.get(f"{self.url}/_sandbox/stats", timeout=10)
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def stop(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _delivered(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(outbox.c.status == "delivered")).scalar_one()


async def _settled(engine: Any) -> bool:
    """No row left to deliver. Asked in a thread, through the queue's partial index, so
    that watching the lane costs it next to nothing (a count of every delivered row, on
    the lane's event loop, would hold up its calls)."""

    def ask() -> bool:
        with engine.connect() as conn:
            return (
                conn.exec_driver_sql(
                    "SELECT 1 FROM outbox WHERE destination = 'crm'"
                    " AND status IN ('pending', 'retry', 'inflight') LIMIT 1"
                ).first()
                is None
            )

    return await asyncio.to_thread(ask)


def _window(engine: Any) -> tuple[datetime, datetime]:
    """The lane's first request and the last outcome recorded."""
    with engine.connect() as conn:
        first = conn.execute(select(func.min(delivery_attempts.c.started_at))).scalar_one()
        last = conn.execute(select(func.max(outbox.c.finished_at))).scalar_one()
    return utc(first), utc(last)


async def _run(engine: Any, project: Any, registry: Any, work: Any) -> Any:
    # As ``spokehub serve`` does before serving: what is loaded by now lives as long as
    # the process, out of the collector's sight.
    gc.collect()
    gc.freeze()
    stop = asyncio.Event()
    task = asyncio.create_task(run_lanes(engine, project, registry, stop, settings=SETTINGS))
    try:
        return await work()
    finally:
        stop.set()
        await task


def sustained(arrivals: list[float], rate: int, per: float = 1.0) -> tuple[float, int, float]:
    """Requests/s over whole budgets: ``rate x q`` requests after the first took the
    time from the first to the ``rate x q``-th after it (exact for any sliding-window
    schedule, bursts included). Returns (requests/s, requests counted, seconds)."""
    times = sorted(arrivals)
    q = (len(times) - 1) // rate
    if q < 1:
        raise SystemExit("too few requests for a sustained rate: raise --items")
    span = times[rate * q] - times[0]
    return rate * q / span, rate * q, span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="low-load phase length")
    parser.add_argument("--quick", action="store_true", help="15000 items, 4 s of low load")
    args = parser.parse_args()
    if args.quick:
        args.items, args.seconds = 15_000, 4.0

    vendor = VendorProcess(RATE)
    cls = destination_class("bench", batch_size=BATCH, rate_limit=RateLimit(requests=RATE))
    registry = Registry.load(allow=[], extra_plugins=[("bench", plugin(cls))])
    project = make_project({"crm": (cls, vendor.url)}, registry)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_store_engine(f"sqlite:///{tmp}/bench.db")
        upgrade(engine)
        try:
            # Throughput: a backlog drained at the vendor's pace.
            for start in range(0, args.items, 5000):
                fill(
                    engine,
                    "crm",
                    [
                        event(f"t{i}", f"c{i % 997}")
                        for i in range(start, min(args.items, start + 5000))
                    ],
                )

            async def drain() -> datetime:
                began = utcnow()
                while not await _settled(engine):
                    await asyncio.sleep(0.2)
                return began

            began = asyncio.run(_run(engine, project, registry, drain))
            if _delivered(engine) != args.items:
                raise SystemExit(f"only {_delivered(engine)} of {args.items} items delivered")
            first, last = _window(engine)
            elapsed = (last - first).total_seconds()
            achieved = args.items / elapsed
            seen = vendor.stats()
            req_rate, counted, span = sustained(seen["arrivals"], RATE)
            rate = req_rate * BATCH
            print(f"throughput, {args.items} items in batches of {BATCH}:")
            ratio = achieved / MAXIMUM
            requests = -(-args.items // BATCH)
            perfect = requests / ((requests - 1) // RATE) / RATE if requests > RATE else None
            print(
                f"  end to end (first request -> last outcome recorded): {elapsed:.2f}s = "
                f"{achieved:.0f} items/s; theoretical max {MAXIMUM} items/s "
                f"({RATE} req/s x {BATCH}); ratio {ratio:.3f} "
                f"(target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'}"
                + (f"; a perfect lane would score {perfect:.2f} here)" if perfect else ")")
            )
            since_start = (last - began).total_seconds()
            print(
                f"  sustained at the vendor: {counted} requests in {span:.3f}s = {rate:.0f} "
                f"items/s, ratio {rate / MAXIMUM:.3f}; from the lanes' start: "
                f"{since_start:.2f}s, ratio {args.items / since_start / MAXIMUM:.3f}"
            )
            print(
                f"  vendor: {seen['accepted']} items accepted, {seen['duplicates']} twice, "
                f"429s {seen['rate_rejections']}, most requests in any 1s window "
                f"{seen['max_in_window']}"
            )

            # A new lane starts below, knowing nothing of the requests the vendor still
            # counts in its window: let that window pass, as after a restart.
            time.sleep(1.0)

            # Latency at low load: 20 items/s trickling in while the lane runs.
            async def trickle() -> list[float]:
                first_id = None
                count = int(args.seconds * 20)
                t0 = time.monotonic()
                for n in range(count):
                    ids = await asyncio.to_thread(fill, engine, "crm", [event(f"l{n}", f"c{n}")])
                    first_id = first_id or ids[0]
                    await asyncio.sleep(max(0.0, t0 + (n + 1) * 0.05 - time.monotonic()))
                deadline = time.monotonic() + 10
                while not await _settled(engine) and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                with engine.connect() as conn:
                    found = conn.execute(
                        select(outbox.c.created_at, outbox.c.finished_at).where(
                            outbox.c.id >= first_id, outbox.c.status == "delivered"
                        )
                    ).all()
                return [(f - c).total_seconds() * 1000 for c, f in found]

            latencies = asyncio.run(_run(engine, project, registry, trickle))
            cuts = statistics.quantiles(latencies, n=100)
            print(
                f"latency outbox insert -> delivered at 20 items/s ({len(latencies)} items): "
                f"p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms (target p99 < 500 ms)"
            )
            print(f"  429s from the vendor in all: {vendor.stats()['rate_rejections']}")
        finally:
            engine.dispose()
            vendor.stop()


if __name__ == "__main__":
    main()
