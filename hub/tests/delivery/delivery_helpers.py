"""Helpers of the delivery tests: fast settings, lanes against the fake vendor, and the
outbox helpers and fakes of :mod:`spokehub.testing` in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, select

from spokehub.delivery.backoff import RetryPolicy
from spokehub.delivery.settings import DeliverySettings
from spokehub.registry import Registry
from spokehub.store.tables import outbox
from spokehub.testing.fake_spoke import destination_class, plugin
from spokehub.testing.fake_vendor import Faults
from spokehub.testing.outbox import event, fill, make_project, person

FAST = DeliverySettings(
    retry=RetryPolicy(base=0.05, cap=0.5, max_attempts=8, max_age=60),
    lease_seconds=2.0,
    idle_poll_seconds=0.02,
    write_timeout=15.0,
    max_lane_backoff=0.5,
    auth_probe_seconds=0.5,
    shutdown_grace=1.0,
)


def rows(engine: Engine, destination: str | None = None) -> list[Any]:
    query = select(outbox).order_by(outbox.c.id)
    if destination:
        query = query.where(outbox.c.destination == destination)
    with engine.connect() as conn:
        return list(conn.execute(query))


__all__ = [
    "FAST",
    "Faults",
    "destination_class",
    "event",
    "fill",
    "make_project",
    "person",
    "plugin",
    "rows",
]


def settled(engine: Engine, destination: str | None = None) -> bool:
    """Every row of the destination has reached a final status."""
    return all(r.status in ("delivered", "dead", "suppressed") for r in rows(engine, destination))


async def run_until(lane: Any, done: Any, timeout: float = 30.0) -> float:
    """Run ``lane`` until ``done()`` holds; returns the seconds it took."""
    import asyncio
    import time

    stop = asyncio.Event()
    task = asyncio.create_task(lane.run(stop))
    start = time.monotonic()
    try:
        while not await asyncio.to_thread(done):
            if time.monotonic() - start > timeout:
                raise AssertionError(f"not done after {timeout}s")
            if task.done():
                task.result()
            await asyncio.sleep(0.05)
        return time.monotonic() - start
    finally:
        stop.set()
        await task


def lane_for(engine: Engine, vendor_url: str, cls: type, name: str = "crm", **kwargs: Any) -> Any:
    from spokehub.delivery.lanes import build_lanes

    registry = Registry.load(allow=[], extra_plugins=[("fake", plugin(cls))])
    project = make_project({name: (cls, vendor_url)}, registry, **kwargs.pop("project", {}))
    kwargs.setdefault("settings", FAST)
    [lane] = build_lanes(engine, project, registry, **kwargs)
    return lane
