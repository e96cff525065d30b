"""Building a small project over a migrated store, and feeding its inbox."""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Engine, select

from spokehub.config import Project, validate
from spokehub.ingest import check_message, write_messages
from spokehub.ingest.limits import IngestSettings
from spokehub.registry import Registry
from spokehub.store.tables import inbox, outbox, quarantine

WRITE_KEY = "wk-test-1"


def project(routes: list[dict[str, Any]] | None = None) -> Project:
    """Source ``web`` (HTTP API) and ``crm``/``ads`` destinations on a spoke-less registry."""
    return validate(
        {
            "connections": {
                "web": {"kind": "source", "write_keys": [WRITE_KEY]},
                "app": {"kind": "source", "write_keys": ["wk-app"]},
                "crm": {"kind": "destination", "spoke": "fake"},
                "ads": {"kind": "destination", "spoke": "fake"},
            },
            "routes": routes if routes is not None else [{"name": "to-crm", "to": "crm"}],
        }
    )


def registry() -> Registry:
    return Registry.load(allow=())


def feed(engine: Engine, messages: list[dict[str, Any]], source: str = "web") -> int:
    settings = IngestSettings()
    accepted = [
        check_message(f"batch[{i}]", m, "2024-05-01T00:00:00+00:00", settings)
        for i, m in enumerate(messages)
    ]
    return write_messages(engine, source, accepted, dedup_window=3600).stored


def feed_raw(engine: Engine, body: dict[str, Any] | str, source: str = "web") -> None:
    """Put a body into the inbox as is, bypassing ingestion's checks."""
    from spokehub_contracts import utcnow

    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    with engine.begin() as conn:
        conn.execute(
            inbox.insert(),
            {"connection": source, "kind": "event", "body": text, "received_at": utcnow()},
        )


def statuses(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r[0] for r in conn.execute(select(inbox.c.status).order_by(inbox.c.id))]


def outbox_rows(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(select(outbox).order_by(outbox.c.id))]


def quarantined(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        return [
            dict(r._mapping) for r in conn.execute(select(quarantine).order_by(quarantine.c.id))
        ]
