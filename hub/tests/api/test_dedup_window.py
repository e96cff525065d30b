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
