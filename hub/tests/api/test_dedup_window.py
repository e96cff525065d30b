"""The de-duplication window comes from the project file (``server.dedup_window_hours``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from spokehub.api import create_app
from spokehub.config import ConfigErrors, validate
from spokehub.registry import Registry
from spokehub.store.tables import inbox, message_ids
from spokehub_contracts import utcnow

KEY = "wk-window"


def _project(**server):
    return validate(
        {"server": server, "connections": {"web": {"kind": "source", "write_keys": [KEY]}}}
    )


def test_the_default_window_is_a_day():
    assert _project().server.dedup_window_hours == 24


@pytest.mark.parametrize("hours", [0, -1])
def test_the_window_must_be_positive(hours):
    with pytest.raises(ConfigErrors) as info:
        _project(dedup_window_hours=hours)
    assert "server.dedup_window_hours" in str(info.value)


def test_the_api_uses_the_configured_window(sqlite_engine):
    app = create_app(_project(dedup_window_hours=0.5), Registry.load(allow=()), sqlite_engine)
    assert app.state.settings.dedup_window == 1800
    body = {"userId": "u1", "event": "Clicked", "messageId": "m-1"}
    with TestClient(app) as client:
        assert client.post("/v1/track", json=body, auth=(KEY, "")).status_code == 200
        assert client.post("/v1/track", json=body, auth=(KEY, "")).status_code == 200
        with sqlite_engine.begin() as conn:  # the first sighting is now 31 minutes old
            conn.execute(update(message_ids).values(received_at=utcnow() - timedelta(minutes=31)))
        assert client.post("/v1/track", json=body, auth=(KEY, "")).status_code == 200
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(inbox)).scalar_one() == 2


def test_a_repeat_among_new_messages_is_skipped_and_the_rest_stored_once(engine):
    """On SQLite a group is first written as if nothing were a repeat; the primary key
    catches a repeat, that write is undone and the look-up path stores the rest."""
    from spokehub.ingest import IngestSettings, check_messages
    from spokehub.ingest.inbox import write_messages, write_requests_in

    def batch(*ids: str):
        msgs = [{"type": "track", "userId": "u1", "event": "E", "messageId": m} for m in ids]
        return check_messages("batch", {"batch": msgs}, "2026-01-01T00:00:00Z", IngestSettings())

    assert write_messages(engine, "web", batch("m-1"), dedup_window=3600).stored == 1
    with engine.begin() as conn:
        results = write_requests_in(
            conn,
            [
                ("web", batch("m-2", "m-1", "m-3"), 3600.0, "event"),
                ("web", batch("m-3", "m-4"), 3600.0, "event"),
            ],
        )
    assert [(r.stored, r.duplicates) for r in results] == [(2, 1), (1, 1)]
    with engine.connect() as conn:
        stored = conn.execute(select(inbox.c.message_id).order_by(inbox.c.id)).scalars().all()
        assert stored == ["m-1", "m-2", "m-3", "m-4"]
        assert conn.execute(select(func.count()).select_from(message_ids)).scalar_one() == 4
