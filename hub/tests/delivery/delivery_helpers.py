"""Helpers of the delivery tests: outbox rows shaped as the pipeline writes them, fast
settings, projects with fake destinations."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from fake_spoke import destination_class, plugin
from fake_vendor import Faults
from sqlalchemy import Engine, insert, select

from spokehub.config import Project, validate
from spokehub.delivery.backoff import RetryPolicy
from spokehub.delivery.clock import utcnow
from spokehub.delivery.settings import DeliverySettings
from spokehub.registry import Registry
from spokehub.store.tables import outbox
from spokehub_contracts import Change, Person, TrackEvent, UpsertPerson
from spokehub_contracts import Event as EventModel

FAST = DeliverySettings(
    retry=RetryPolicy(base=0.05, cap=0.5, max_attempts=8, max_age=60),
    lease_seconds=2.0,
    idle_poll_seconds=0.02,
    write_timeout=15.0,
    max_lane_backoff=0.5,
    auth_probe_seconds=0.5,
    shutdown_grace=1.0,
)


def person(item_id: str, contact: str, **traits: Any) -> UpsertPerson:
    return UpsertPerson(item_id=item_id, contact_id=contact, person=Person(**traits))


def event(item_id: str, contact: str | None, name: str = "Order Completed") -> TrackEvent:
    return TrackEvent(
        item_id=item_id,
        contact_id=contact,
        event=EventModel(
            type="track",
            event=name,
            user_id=contact,
            anonymous_id="anon",
            properties={"n": item_id},
        ),
    )


def fill(
    engine: Engine,
    destination: str,
    changes: Sequence[Change],
    *,
    route: str | None = None,
    purpose: str | None = None,
    created_at: datetime | None = None,
) -> list[int]:
    """Add outbox rows shaped as the pipeline writes them; returns their ids."""
    now = created_at or utcnow()
    rows = [
        {
            "destination": destination,
            "route": route,
            "contact_id": c.contact_id,
            "kind": c.kind,
            "purpose": purpose,
            "item": c.model_dump_json(),
            "created_at": now + timedelta(microseconds=i),
            "due_at": now,
            "status": "pending",
            "attempts": 0,
        }
        for i, c in enumerate(changes)
    ]
    with engine.begin() as conn:
        result = conn.execute(insert(outbox).returning(outbox.c.id), rows)
        return sorted(r.id for r in result)


def rows(engine: Engine, destination: str | None = None) -> list[Any]:
    query = select(outbox).order_by(outbox.c.id)
    if destination:
        query = query.where(outbox.c.destination == destination)
    with engine.connect() as conn:
        return list(conn.execute(query))


def make_project(
    destinations: dict[str, tuple[type, str]], registry: Registry, **extra: Any
) -> Project:
    """A validated project with one destination connection per ``name: (cls, url)``."""
    data: dict[str, Any] = {
        "connections": {
            name: {"kind": "destination", "spoke": cls.name, "config": {"base_url": url}}
            for name, (cls, url) in destinations.items()
        },
        **extra,
    }
    return validate(data, registry)


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
