"""SIGKILL the daemon at random points during a stream of batches: every acknowledged
event ends in its profile exactly once.

Kills alternate between the daemon alone (its pipeline process sees its input end and
stops after its batch, as when only the service's main process dies) and the daemon with
its pipeline process in the same instant (a power cut: the pipeline dies mid-batch). Each
round costs a daemon start, about 5 s, so the suite kills a few times;
``SPOKEHUB_DURABILITY_KILLS=200`` turns the same test into a soak.
"""

from __future__ import annotations

import os
import random
import threading
import time

import httpx
import pytest
from sqlalchemy import func, select

from spokehub.identity.lookup import lookup
from spokehub.store import create_store_engine
from spokehub.store.tables import events
from spokehub_contracts import Identifier

from .daemon import WRITE_KEY, Daemon, free_port, write_project

pytestmark = pytest.mark.slow

KILLS = int(os.environ.get("SPOKEHUB_DURABILITY_KILLS", "6"))
USERS = 7


def _batch(n: int, size: int = 10) -> list[dict]:
    return [
        {
            "type": "track",
            "userId": f"user-{(n * size + i) % USERS}",
            "event": "Tick",
            "messageId": f"m-{n}-{i}",
            "properties": {"n": n, "i": i},
        }
        for i in range(size)
    ]


def test_sigkill_loses_and_duplicates_nothing(tmp_path):
    rng = random.Random(7)
    url = f"sqlite:///{tmp_path / 'hub.db'}"
    config = write_project(tmp_path, url, free_port())  # each start takes a port of its own
    acked: set[str] = set()
    unacked: list[int] = []  # batches to resend, like a client's retry queue
    next_batch = 0

    def send(daemon: Daemon, stop: threading.Event, acks: threading.Semaphore) -> None:
        nonlocal next_batch
        with httpx.Client(base_url=daemon.url, auth=(WRITE_KEY, ""), timeout=5) as client:
            while not stop.is_set():
                if unacked:
                    n = unacked.pop(0)
                else:
                    n, next_batch = next_batch, next_batch + 1
                try:
                    r = client.post("/v1/batch", json={"batch": _batch(n)})
                except httpx.HTTPError:
                    unacked.append(n)
                    return
                if r.status_code == 200:
                    acked.update(m["messageId"] for m in _batch(n))
                    acks.release()
                else:
                    unacked.append(n)
                    return

    for kill in range(KILLS):
        daemon = Daemon(config, free_port()).start()
        stop, acks = threading.Event(), threading.Semaphore(0)
        sender = threading.Thread(target=send, args=(daemon, stop, acks))
        sender.start()
        try:
            # A random point in the stream, counted in acknowledged batches rather than
            # seconds, so a slow machine kills as deep into the stream as a fast one; then
            # a moment later, most often while a batch is in flight.
            for _ in range(rng.randint(2, 10)):
                assert acks.acquire(timeout=60), "the daemon stopped acknowledging"
            time.sleep(rng.uniform(0, 0.03))
        finally:
            daemon.kill(whole=kill % 2 == 1)
            stop.set()
            sender.join(10)

    daemon = Daemon(config, free_port()).start()
    try:
        while unacked:  # the client's retries after the last restart
            n = unacked.pop(0)
            r = httpx.post(
                f"{daemon.url}/v1/batch",
                json={"batch": _batch(n)},
                auth=(WRITE_KEY, ""),
                timeout=10,
            )
            assert r.status_code == 200
            acked.update(m["messageId"] for m in _batch(n))
        daemon.wait_idle(60)
    finally:
        assert daemon.stop() == 0

    assert len(acked) >= 100
    engine = create_store_engine(url)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                select(events.c.message_id, func.count()).group_by(events.c.message_id)
            ).all()
        )
        assert set(counts) == acked
        assert set(counts.values()) == {1}
        for u in range(USERS):
            contact = lookup(conn, Identifier(type="user_id", value=f"user-{u}"))
            owners = (
                conn.execute(
                    select(events.c.contact_id).where(
                        events.c.message_id.in_([m for m in acked if _user_of(m) == u])
                    )
                )
                .scalars()
                .all()
            )
            assert set(owners) == {contact}
    engine.dispose()


def _user_of(message_id: str) -> int:
    _, n, i = message_id.split("-")
    return (int(n) * 10 + int(i)) % USERS
