"""Lanes through ``run_lanes``: a slow destination never delays another; a declared rate
is never exceeded."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

from delivery_helpers import FAST, destination_class, event, fill, make_project, plugin, rows

from spokehub.delivery import run_lanes
from spokehub.registry import Registry
from spokehub.testing.fake_vendor import FakeVendor
from spokehub_contracts import RateLimit
from spokehub_contracts.testing import SandboxRequest, SandboxResponse


class HeldVendor(FakeVendor):
    """A vendor whose batch requests hang until the test lets them go: as slow as a test
    needs, for no longer than it needs."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.release = threading.Event()

    def answer(self, request: SandboxRequest, plan: Any) -> SandboxResponse:
        if request.path == "/batch":
            self.release.wait(120)
        return super().answer(request, plan)


async def test_a_slow_destination_does_not_delay_another(sqlite_engine, vendors):
    slow = HeldVendor().start()
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
    fill(sqlite_engine, "b", [event(f"b{i}", f"c{i}") for i in range(5)])
    stop = asyncio.Event()
    task = asyncio.create_task(run_lanes(sqlite_engine, project, registry, stop, settings=FAST))
    try:
        start = time.monotonic()
        # a's vendor holds its answers until released, so b can only finish if nothing
        # of b's waits on a.
        while not all(r.status == "delivered" for r in rows(sqlite_engine, "b")):
            assert time.monotonic() - start < 30, "b waited on a"
            await asyncio.sleep(0.02)
        assert all(r.status == "inflight" for r in rows(sqlite_engine, "a"))
        assert slow.requests_to("/batch"), "a's lane had sent nothing yet"
        slow.release.set()
        while not all(r.status == "delivered" for r in rows(sqlite_engine, "a")):
            assert time.monotonic() - start < 60
            await asyncio.sleep(0.05)
    finally:
        slow.release.set()
        stop.set()
        await task
        slow.stop()
    assert slow.stats()["duplicates"] == 0


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
