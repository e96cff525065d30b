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
- HubSpot: the hubspot spoke, loaded through its entry point as ``spokehub serve`` loads
  it, drains a backlog of person upserts (100 contacts a batch upsert) into the HubSpot
  sandbox in a process of its own, which keeps HubSpot's documented burst limit: 100
  requests in any rolling ten seconds, a 429 ``TEN_SECONDLY_ROLLING`` beyond. Printed:
  the rate sustained where the sandbox counts, over whole ten-second budgets, against
  that limit (target >= 0.95), the 429s after the first window (the warm-up; target
  none), and the contacts the sandbox holds at the end (every one, once).

Every figure is measured on this run, on a fresh SQLite store.

    python bench/delivery.py [--items 40000] [--seconds 10] [--hubspot-items 30100]
                             [--part all|fake|hubspot] [--quick]
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
from collections import Counter
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import func, select

from spokehub.config import validate
from spokehub.delivery import DeliverySettings, run_lanes
from spokehub.registry import Registry
from spokehub.store import create_store_engine, upgrade
from spokehub.store.driver_sql import utc, utcnow
from spokehub.store.tables import delivery_attempts, outbox
from spokehub.testing.fake_spoke import destination_class, plugin
from spokehub.testing.outbox import event, fill, make_project
from spokehub_contracts import Identifier, Person, RateLimit, UpsertPerson
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN

RATE = 50
BATCH = 100
# HubSpot's documented burst limit for the smallest accounts.
HUBSPOT_RATE = 100
HUBSPOT_WINDOW = 10.0
MAXIMUM = RATE * BATCH
# Workers in flight: one waits for the vendor while another records its batch and claims
# the next.
SETTINGS = DeliverySettings(concurrency=4)


class VendorProcess:
    """A vendor sandbox in a subprocess (the fake vendor unless ``module`` names another
    sandbox module); it exits when its stdin closes."""

    def __init__(
        self, rate: int, per: float = 1.0, module: str = "spokehub.testing.fake_vendor"
    ) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                *("-m", module),
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
            raise RuntimeError(f"the vendor sandbox {module} did not start")
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


def hubspot(items: int) -> None:
    """The hubspot spoke draining ``items`` person upserts into the HubSpot sandbox at
    HubSpot's documented burst limit."""
    vendor = VendorProcess(HUBSPOT_RATE, HUBSPOT_WINDOW, module="spokehub_hubspot.testing")
    registry = Registry.load(allow=["hubspot"])
    project = validate(
        {
            "connections": {
                "crm": {
                    "kind": "destination",
                    "spoke": "hubspot",
                    "config": {"base_url": vendor.url, "access_token": SANDBOX_ACCESS_TOKEN},
                }
            }
        },
        registry,
    )
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_store_engine(f"sqlite:///{tmp}/bench-hubspot.db")
        upgrade(engine)
        try:
            for start in range(0, items, 5000):
                fill(engine, "crm", [_person(i) for i in range(start, min(items, start + 5000))])

            async def drain() -> None:
                while not await _settled(engine):
                    await asyncio.sleep(0.2)

            asyncio.run(_run(engine, project, registry, drain))
            delivered = _delivered(engine)
            first, last = _window(engine)
            seen = vendor.stats()
        finally:
            engine.dispose()
            vendor.stop()
    budget = HUBSPOT_RATE / HUBSPOT_WINDOW
    # Over the requests the sandbox accepted: a 429 is no progress.
    accepted = Counter(seen["arrivals"]) - Counter(seen["throttled_at"])
    req_rate, counted, span = sustained(list(accepted.elements()), HUBSPOT_RATE, HUBSPOT_WINDOW)
    ratio = req_rate / budget
    warm_up_end = min(seen["arrivals"]) + HUBSPOT_WINDOW
    late_429s = sum(1 for at in seen["throttled_at"] if at >= warm_up_end)
    elapsed = (last - first).total_seconds()
    print(
        f"HubSpot sandbox, {items} person upserts in batches of {BATCH}, its burst limit"
        f" {HUBSPOT_RATE} requests in any {HUBSPOT_WINDOW:g}s ({budget:g} req/s):"
    )
    print(
        f"  sustained at the sandbox: {counted} requests in {span:.3f}s = {req_rate:.3f}"
        f" req/s ({req_rate * BATCH:.0f} contacts/s), ratio {ratio:.3f} of the limit"
        f" (target >= 0.95: {'met' if ratio >= 0.95 else 'NOT met'})"
    )
    print(
        f"  429s: {seen['rate_rejections']} in all, {late_429s} after the first"
        f" {HUBSPOT_WINDOW:g}s (target none: {'met' if late_429s == 0 else 'NOT met'});"
        f" most requests in any {HUBSPOT_WINDOW:g}s {seen['max_in_window']}"
    )
    print(
        f"  end to end: {delivered} of {items} delivered in {elapsed:.2f}s"
        f" ({delivered / elapsed:.0f} contacts/s); the sandbox holds {seen['contacts']}"
        f" contacts from {seen['inputs']} inputs in {seen['requests']} requests"
    )
    if delivered != items or seen["contacts"] != items:
        raise SystemExit("not every contact arrived once")


def _person(i: int) -> UpsertPerson:
    address = f"person{i}@example.com"
    return UpsertPerson(
        item_id=f"h{i}",
        contact_id=f"c{i}",
        identifiers=(Identifier(type="email", value=address),),
        person=Person(email=address, first_name="Ada", last_name=f"Example{i}"),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=40_000)
    parser.add_argument("--seconds", type=float, default=10.0, help="low-load phase length")
    parser.add_argument(
        "--hubspot-items",
        type=int,
        default=30_100,
        help="person upserts for the HubSpot run (100 a request, 100 requests in 10 s)",
    )
    parser.add_argument("--part", choices=("all", "fake", "hubspot"), default="all")
    parser.add_argument(
        "--quick", action="store_true", help="15000 items, 4 s of low load, 20100 upserts"
    )
    args = parser.parse_args()
    if args.quick:
        args.items, args.seconds, args.hubspot_items = 15_000, 4.0, 20_100
    if args.part in ("all", "fake"):
        fake_vendor(args)
    if args.part in ("all", "hubspot"):
        if args.part == "all":
            print()
        hubspot(args.hubspot_items)


def fake_vendor(args: argparse.Namespace) -> None:
    """Throughput and latency against the fake vendor."""
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
