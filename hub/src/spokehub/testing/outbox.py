"""Outbox rows shaped as the pipeline writes them, and projects whose destinations are
fake spokes: what the delivery tests and the delivery benchmark start from."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, insert

from spokehub.config import Project, validate
from spokehub.registry import Registry
from spokehub.store.driver_sql import transaction, utcnow
from spokehub.store.tables import outbox
from spokehub_contracts import Change, Person, TrackEvent, UpsertPerson
from spokehub_contracts import Event as EventModel


def person(item_id: str, contact: str, **traits: Any) -> UpsertPerson:
    """An upsert of a person with ``traits``, for ``contact``."""
    return UpsertPerson(item_id=item_id, contact_id=contact, person=Person(**traits))


def event(item_id: str, contact: str | None, name: str = "Order Completed") -> TrackEvent:
    """A track event of ``contact``."""
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
    with transaction(engine) as conn:
        result = conn.execute(insert(outbox).returning(outbox.c.id), rows)
        return sorted(r.id for r in result)


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
