"""Lanes through ``run_lanes``: a slow destination never delays another; a declared rate
is never exceeded."""

from __future__ import annotations

import asyncio
import time

from delivery_helpers import FAST, destination_class, event, fill, make_project, plugin, rows

from spokehub.delivery import run_lanes
from spokehub.registry import Registry
from spokehub.testing.fake_vendor import Faults
from spokehub_contracts import RateLimit


async def test_a_slow_destination_does_not_delay_another(sqlite_engine, vendors):
    slow = vendors(faults=Faults(latency=10.0))
    fast = vendors()
    slow_cls = destination_class("slow-vendor")
    fast_cls = destination_class("fast-vendor")
    registry = Registry.load(allow=[], extra_plugins=[("fake", plugin(slow_cls, fast_cls))])
    project = make_project(
        {"a": (slow_cls, slow.url), "b": (fast_cls, fast.url)},
        registry,
    )
    project.spoke_configs["a"] = slow_cls.Config(base_url=slow.url, timeout=30)
    fill(sqlite_engine, "a", [event(f"a{i}", f"c{i}") for i in range(5)])
    start = time.monotonic()
    fill(sqlite_engine, "b", [event(f"b{i}", f"c{i}") for i in range(5)])
    stop = asyncio.Event()
    task = asyncio.create_task(run_lanes(sqlite_engine, project, registry, stop, settings=FAST))
    while not all(r.status == "delivered" for r in rows(sqlite_engine, "b")):
        assert time.monotonic() - start < 5, "b waited on a"
        await asyncio.sleep(0.02)
    b_done = time.monotonic() - start
    assert b_done < 1.0
    assert all(r.status == "inflight" for r in rows(sqlite_engine, "a"))
    while not all(r.status == "delivered" for r in rows(sqlite_engine, "a")):
        assert time.monotonic() - start < 20
        await asyncio.sleep(0.1)
    stop.set()
    await task
    assert time.monotonic() - start >= 10


async def test_a_declared_rate_is_never_exceeded(sqlite_engine, vendors):
    vendor = vendors(rate_limit=(10, 1.0))
    cls = destination_class("paced", batch_size=1, rate_limit=RateLimit(requests=10))
    registry = Registry.load(allow=[], extra_plugins=[("fake", plugin(cls))])
    project = make_project({"crm": (cls, vendor.url)}, registry)
    fill(sqlite_engine, "crm", [event(f"e{i}", f"c{i}") for i in range(35)])
    stop = asyncio.Event()
    task = asyncio.create_task(run_lanes(sqlite_engine, project, registry, stop, settings=FAST))
    start = time.monotonic()
    while not all(r.status == "delivered" for r in rows(sqlite_engine, "crm")):
        assert time.monotonic() - start < 15
        await asyncio.sleep(0.05)
    stop.set()
    await task
    assert vendor.max_in_window(1.0) <= 10
    assert vendor.rate_rejections == 0, "the vendor had to answer 429"
    assert time.monotonic() - start >= 3.0  # 35 requests at 10/s


async def test_only_runs_one_lane_and_leaves_the_others_alone(sqlite_engine, vendors):
    # `spokehub deliveries run --connection a` runs run_lanes(only="a"): b's spoke is never
    # even built, and b's rows wait in the outbox for a process that runs b's lane.
    vendor = vendors()
    a_cls = destination_class("a-vendor")
    built: list[str] = []

    class Watched(destination_class("b-vendor")):
        def __init__(self, config, *, connection=""):
            built.append(connection)
            super().__init__(config, connection=connection)

    registry = Registry.load(allow=[], extra_plugins=[("fake", plugin(a_cls, Watched))])
    project = make_project({"a": (a_cls, vendor.url), "b": (Watched, vendor.url)}, registry)
    fill(sqlite_engine, "a", [event("a1", "c1")])
    fill(sqlite_engine, "b", [event("b1", "c1")])
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_lanes(sqlite_engine, project, registry, stop, settings=FAST, only="a")
    )
    start = time.monotonic()
    while not all(r.status == "delivered" for r in rows(sqlite_engine, "a")):
        assert time.monotonic() - start < 15
        assert not task.done(), task
        await asyncio.sleep(0.02)
    stop.set()
    await task
    assert built == []
    assert [r.status for r in rows(sqlite_engine, "b")] == ["pending"]
