"""Delivery benchmark: throughput against a rate-limited vendor, and latency at low load.

A fake vendor on 127.0.0.1 allows 50 requests/s and takes 100 items per request, so the
theoretical maximum is 5000 items/s. The script prints the items/s one lane achieved
over that maximum (target >= 0.95), then the p50/p99 latency from ingest (the outbox row
is written) to delivered (its outcome is recorded) at 20 items/s (target p99 < 500 ms).
Every figure is measured on this run, on a fresh SQLite store.

    python bench/delivery.py [--items 30000] [--seconds 5]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "hub" / "tests" / "delivery"))

from delivery_helpers import event, fill, make_project, plugin  # noqa: E402
from fake_spoke import destination_class  # noqa: E402
from fake_vendor import run_vendor  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

from spokehub.delivery import DeliverySettings, run_lanes  # noqa: E402
from spokehub.registry import Registry  # noqa: E402
from spokehub.store import create_store_engine, upgrade  # noqa: E402
from spokehub.store.tables import outbox  # noqa: E402
from spokehub_contracts import RateLimit  # noqa: E402

RATE = 50
BATCH = 100
# Four batches in flight keep the vendor's budget busy while the store records the last.
SETTINGS = DeliverySettings(concurrency=4)


def _delivered(engine: Any) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).where(outbox.c.status == "delivered")).scalar_one()


async def _run(engine: Any, project: Any, registry: Any, work: Any) -> Any:
    stop = asyncio.Event()
    task = asyncio.create_task(run_lanes(engine, project, registry, stop, settings=SETTINGS))
    try:
        return await work()
    finally:
        stop.set()
        await task


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="low-load phase length")
    args = parser.parse_args()

    vendor = run_vendor(rate_limit=(RATE, 1.0))
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

            async def drain() -> float:
                t0 = time.perf_counter()
                while _delivered(engine) < args.items:
                    await asyncio.sleep(0.05)
                return time.perf_counter() - t0

            elapsed = asyncio.run(_run(engine, project, registry, drain))
            rate = args.items / elapsed
            maximum = RATE * BATCH
            print(f"throughput: {args.items} items in {elapsed:.2f}s = {rate:.0f} items/s")
            print(
                f"  over theoretical max {maximum} items/s: {rate / maximum:.3f} (target >= 0.95)"
            )
            print(f"  429s from the vendor: {vendor.rate_rejections}")

            # Latency at low load: 20 items/s trickling in while the lane runs.
            async def trickle() -> list[float]:
                first_id = None
                count = int(args.seconds * 20)
                for n in range(count):
                    ids = await asyncio.to_thread(fill, engine, "crm", [event(f"l{n}", f"c{n}")])
                    first_id = first_id or ids[0]
                    await asyncio.sleep(0.05)
                deadline = time.monotonic() + 10
                while _delivered(engine) < args.items + count and time.monotonic() < deadline:
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
                f"latency ingest→delivered at 20 items/s ({len(latencies)} items): "
                f"p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms (target p99 < 500 ms)"
            )
        finally:
            engine.dispose()
            vendor.stop()


if __name__ == "__main__":
    main()
