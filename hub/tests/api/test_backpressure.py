"""Backpressure: above the high-water mark of pending inbox rows (or under the free-disk
floor of a SQLite store) ingestion answers 503 with Retry-After, before reading the body,
and resumes once the pipeline has caught up; /metrics says so."""

from __future__ import annotations

import orjson
import pytest
from fastapi.testclient import TestClient

from spokehub.api import create_app
from spokehub.config import validate
from spokehub.ingest import IngestSettings
from spokehub.ingest.backpressure import Backpressure
from spokehub.pipeline import Pipeline
from spokehub.registry import Registry

KEY = "wk-backpressure"
ADMIN = "admin-backpressure"


def scrape(client) -> str:
    return client.get("/metrics", headers={"Authorization": f"Bearer {ADMIN}"}).text


def make_client(engine, **backpressure):
    project = validate(
        {
            "server": {
                "admin_token": ADMIN,
                "backpressure": {"check_interval_ms": 10, **backpressure},
            },
            "connections": {"web": {"kind": "source", "write_keys": [KEY]}},
        }
    )
    app = create_app(project, Registry.load(allow=()), engine, settings=IngestSettings())
    return TestClient(app, raise_server_exceptions=False), project


def batch(start: int, n: int) -> bytes:
    return orjson.dumps(
        {
            "batch": [
                {"type": "track", "userId": f"u{i % 7}", "event": "E", "messageId": f"m{i}"}
                for i in range(start, start + n)
            ]
        }
    )


def test_above_the_high_water_mark_ingestion_answers_503_until_the_pipeline_catches_up(engine):
    client, project = make_client(engine, max_pending=10, retry_after_seconds=7)
    with client:
        assert client.post("/v1/batch", content=batch(0, 11), auth=(KEY, "")).status_code == 200
        refused = client.post("/v1/batch", content=batch(11, 5), auth=(KEY, ""))
        assert refused.status_code == 503
        assert refused.headers["retry-after"] == "7"
        assert refused.json()["code"] == "backlog_full"
        # Refused before the body is read: even a body that is not JSON gets the 503.
        assert client.post("/v1/batch", content=b"{", auth=(KEY, "")).status_code == 503
        metrics = scrape(client)
        assert 'spokehub_ingestion_paused{reason="backlog_full"} 1.0' in metrics
        assert 'spokehub_requests_rejected_total{code="backlog_full"} 2.0' in metrics
        assert "spokehub_inbox_high_water 10.0" in metrics
        assert "spokehub_inbox_pending 11.0" in metrics

        Pipeline(engine, project, Registry.load(allow=())).drain()
        client.app.state.backpressure.count()  # the next count, without waiting for it
        assert client.post("/v1/batch", content=batch(11, 5), auth=(KEY, "")).status_code == 200
        metrics = scrape(client)
        assert 'spokehub_ingestion_paused{reason="backlog_full"} 0.0' in metrics
        assert "spokehub_inbox_pending 5.0" in metrics


def test_the_backlog_is_counted_in_the_background_and_only_up_to_the_mark(engine):
    client, _project = make_client(engine, max_pending=3)
    with client:
        assert client.post("/v1/batch", content=batch(0, 20), auth=(KEY, "")).status_code == 200
        watch: Backpressure = client.app.state.backpressure
        watch.count()
        assert watch.pending == 4  # the count stops past the mark: cost bounded by it
        assert watch.paused == "backlog_full"


def test_a_nearly_full_disk_pauses_ingestion_on_sqlite(sqlite_engine):
    client, _project = make_client(sqlite_engine, min_free_disk_mb=10**12)
    with client:
        client.app.state.backpressure.count()
        refused = client.post("/v1/batch", content=batch(0, 1), auth=(KEY, ""))
        assert refused.status_code == 503
        assert refused.json()["code"] == "disk_full"
        assert "retry-after" in refused.headers
        assert "spokehub_store_free_bytes" in scrape(client)


@pytest.mark.postgres
def test_the_disk_floor_is_sqlites_alone(pg_schema_url):
    from spokehub.store import create_store_engine, upgrade

    engine = create_store_engine(pg_schema_url)
    upgrade(engine)
    try:
        client, _project = make_client(engine, min_free_disk_mb=10**12)
        with client:
            client.app.state.backpressure.count()
            assert client.post("/v1/batch", content=batch(0, 1), auth=(KEY, "")).status_code == 200
    finally:
        engine.dispose()


def test_no_limits_means_no_counting(sqlite_engine):
    client, _project = make_client(sqlite_engine, max_pending=None, min_free_disk_mb=None)
    with client:
        watch: Backpressure = client.app.state.backpressure
        assert not watch.enabled
        for n in range(3):
            assert client.post("/v1/batch", content=batch(n, 1), auth=(KEY, "")).status_code == 200
        assert watch.pending == 0 and watch.paused is None


def test_the_daemon_default_is_on():
    server = validate({}).server
    assert server.backpressure.max_pending == 100_000
    assert server.backpressure.min_free_disk_mb == 1024
