"""Two ``spokehub serve`` processes share one PostgreSQL store: nothing is lost, nothing is
processed twice, and each person's events keep the order they were sent in."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import defaultdict

import httpx
import pytest
from sqlalchemy import func, select

from spokehub.store import create_store_engine
from spokehub.store.tables import events, inbox, quarantine

from .daemon import WRITE_KEY, Daemon, free_port, write_project

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SENDERS = 4  # concurrent clients
USERS_PER_SENDER = 3
ROUNDS = 20  # batches per client
PER_USER = 5  # events of each user in one batch


def _batch(sender: int, rnd: int) -> list[dict]:
    batch = []
    for u in range(USERS_PER_SENDER):
        user = f"user-{sender}-{u}"
        for i in range(PER_USER):
            seq = rnd * PER_USER + i
            batch.append(
                {
                    "type": "track",
                    "userId": user,
                    "event": "Step",
                    "messageId": f"{user}-{seq}",
                    "properties": {"seq": seq},
                }
            )
    return batch


async def _send(urls: list[str]) -> set[str]:
    """Each client sends its users' batches one after another (a person's next events only
    once the previous ones are acknowledged), alternating between the daemons."""
    acked: set[str] = set()

    async def client(sender: int) -> None:
        async with httpx.AsyncClient(auth=(WRITE_KEY, ""), timeout=30) as http:
            for rnd in range(ROUNDS):
                batch = _batch(sender, rnd)
                url = urls[(sender + rnd) % len(urls)]
                r = await http.post(f"{url}/v1/batch", json={"batch": batch})
                assert r.status_code == 200, r.text
                acked.update(m["messageId"] for m in batch)

    await asyncio.gather(*(client(s) for s in range(SENDERS)))
    return acked


def test_two_daemons_share_the_inbox_without_loss_duplicates_or_reordering(pg_schema_url, tmp_path):
    ports = [free_port(), free_port()]
    config = write_project(tmp_path, pg_schema_url, ports[0])
    _shared_without_loss_duplicates_or_reordering(
        pg_schema_url, [Daemon(config, port) for port in ports]
    )


def test_pipeline_workers_share_the_inbox_without_loss_duplicates_or_reordering(
    pg_schema_url, tmp_path
):
    """``serve --pipeline-workers 2``: one daemon, two pipeline processes."""
    port = free_port()
    config = write_project(tmp_path, pg_schema_url, port)
    _shared_without_loss_duplicates_or_reordering(
        pg_schema_url, [Daemon(config, port, args=["--pipeline-workers", "2"])]
    )


def _shared_without_loss_duplicates_or_reordering(pg_schema_url: str, daemons: list[Daemon]):
    # Started together: both migrate the same empty schema at once.
    errors: list[BaseException] = []

    def start(d: Daemon) -> None:
        try:
            d.start()
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(d,)) for d in daemons]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    engine = create_store_engine(pg_schema_url)
    try:
        assert not errors, errors
        acked = asyncio.run(_send([d.url for d in daemons]))
        assert len(acked) == SENDERS * USERS_PER_SENDER * ROUNDS * PER_USER

        deadline = time.monotonic() + 90
        while True:
            with engine.connect() as conn:
                pending = conn.execute(
                    select(func.count()).select_from(inbox).where(inbox.c.status == "pending")
                ).scalar_one()
            if pending == 0:
                break
            assert time.monotonic() < deadline, f"{pending} inbox rows still pending"
            time.sleep(0.2)
    finally:
        codes = [d.stop() for d in daemons if d.proc is not None]
    assert codes == [0] * len(daemons)

    with engine.connect() as conn:
        rows = conn.execute(
            select(events.c.id, events.c.contact_id, events.c.message_id, events.c.properties)
        ).all()
        workers = set(conn.execute(select(inbox.c.claimed_by).distinct()).scalars())
        quarantined = conn.execute(select(func.count()).select_from(quarantine)).scalar_one()
    engine.dispose()

    assert quarantined == 0
    message_ids = [r.message_id for r in rows]
    assert len(message_ids) == len(set(message_ids)), "an event was processed twice"
    assert set(message_ids) == acked, "an acknowledged event is missing"
    assert len(workers) == 2, f"both pipeline workers should have worked: {workers}"

    by_contact: dict[str, list[tuple[int, int]]] = defaultdict(list)
    users_of: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        by_contact[r.contact_id].append((r.id, r.properties["seq"]))
        users_of[r.contact_id].add(r.message_id.rsplit("-", 1)[0])
    assert len(by_contact) == SENDERS * USERS_PER_SENDER
    for contact, seen in by_contact.items():
        assert len(users_of[contact]) == 1
        seqs = [seq for _, seq in sorted(seen)]
        assert seqs == sorted(seqs), f"events of {contact} out of order: {seqs}"
