"""A project with audiences and journeys over a migrated store, and a clock to move."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import Engine, select

from spokehub.audiences.tables import audience_members
from spokehub.config import Project, validate
from spokehub.ingest import check_message, write_messages
from spokehub.ingest.limits import IngestSettings
from spokehub.journeys.tables import journey_timers
from spokehub.pipeline import Pipeline
from spokehub.registry import Registry
from spokehub.store.tables import outbox

WRITE_KEY = "wk-test-1"


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, at: datetime | None = None) -> None:
        self.at = at or datetime(2026, 1, 1, tzinfo=UTC)

    def now(self) -> datetime:
        return self.at

    def advance(self, **kw: float) -> None:
        self.at += timedelta(**kw)


def project(
    audiences: dict[str, Any] | None = None, journeys: dict[str, Any] | None = None
) -> Project:
    return validate(
        {
            "connections": {
                "web": {"kind": "source", "write_keys": [WRITE_KEY]},
                "crm": {"kind": "destination", "spoke": "fake"},
                "ads": {"kind": "destination", "spoke": "fake"},
                "mail": {"kind": "destination", "spoke": "fake"},
            },
            "audiences": audiences or {},
            "journeys": journeys or {},
        }
    )


def pipeline(engine: Engine, proj: Project, clock: FakeClock) -> Pipeline:
    p = Pipeline(engine, proj, Registry.load(allow=()), batch_size=50)
    p.activation.activation.clock = clock
    return p


def members(engine: Engine) -> set[tuple[str, str]]:
    m = audience_members.c
    with engine.connect() as conn:
        return {
            (a, c)
            for a, c in conn.execute(select(m.audience, m.contact_id).where(m.exited_at.is_(None)))
        }


def changes(engine: Engine, kinds: tuple[str, ...] = ("audience_entered", "audience_exited")):
    """``(destination, kind, audience or event, contact_id)`` in outbox order."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(outbox.c.destination, outbox.c.kind, outbox.c.item, outbox.c.purpose)
            .where(outbox.c.kind.in_(kinds))
            .order_by(outbox.c.id)
        ).all()
    out = []
    for dest, kind, item, purpose in rows:
        data = orjson.loads(item)
        what = data.get("audience") or data.get("event", {}).get("event")
        out.append((dest, kind, what, data["contact_id"], purpose, data))
    return out


def timers(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(select(journey_timers).order_by(journey_timers.c.id))
        ]


def feed(engine: Engine, messages: list[dict[str, Any]], source: str = "web") -> int:
    settings = IngestSettings()
    accepted = [
        check_message(f"batch[{i}]", m, "2024-05-01T00:00:00+00:00", settings)
        for i, m in enumerate(messages)
    ]
    return write_messages(engine, source, accepted, dedup_window=3600).stored


def feed_records(engine: Engine, records: list[Any], source: str = "web") -> None:
    """Put pulled records (``SourceRecord``) into the inbox, as a sync run does."""
    from spokehub.store.driver_sql import utcnow
    from spokehub.store.tables import inbox

    with engine.begin() as conn:
        for r in records:
            conn.execute(
                inbox.insert(),
                {
                    "connection": source,
                    "kind": "record",
                    "body": r.model_dump_json(),
                    "received_at": utcnow(),
                },
            )
