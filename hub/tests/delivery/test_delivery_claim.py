"""Claiming on SQLite and PostgreSQL: batch size, order, leases, per-profile order, and
concurrent claimers."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from delivery_helpers import event, fill, rows
from sqlalchemy import update

from spokehub.delivery.claim import claim, release
from spokehub.store.driver_sql import utc, utcnow
from spokehub.store.tables import outbox


def test_claims_due_rows_oldest_first_up_to_the_batch_size(engine):
    ids = fill(engine, "crm", [event(f"e{i}", f"c{i}") for i in range(5)])
    fill(engine, "other", [event("x", "c9")])
    first = claim(engine, "crm", 3, lease_seconds=30)
    assert [c.id for c in first] == ids[:3]
    assert [c.id for c in claim(engine, "crm", 3, lease_seconds=30)] == ids[3:]
    assert claim(engine, "crm", 3, lease_seconds=30) == []
    assert {r.status for r in rows(engine, "crm")} == {"inflight"}


def test_an_expired_lease_is_claimed_again(engine):
    fill(engine, "crm", [event("e1", "c1")])
    claim(engine, "crm", 10, lease_seconds=30)
    assert claim(engine, "crm", 10, lease_seconds=30) == []
    later = utcnow() + timedelta(seconds=31)
    assert len(claim(engine, "crm", 10, lease_seconds=30, now=later)) == 1


def test_a_waiting_retry_holds_back_that_profiles_later_rows_only(engine):
    ids = fill(engine, "crm", [event("e1", "c1"), event("e2", "c1"), event("e3", "c2")])
    with engine.begin() as conn:
        conn.execute(
            update(outbox)
            .where(outbox.c.id == ids[0])
            .values(status="retry", attempts=1, due_at=utcnow() + timedelta(minutes=5))
        )
    assert [c.id for c in claim(engine, "crm", 10, lease_seconds=30)] == [ids[2]]


def test_a_delayed_pending_row_does_not_block(engine):
    ids = fill(engine, "crm", [event("e1", "c1"), event("e2", "c1")])
    with engine.begin() as conn:
        conn.execute(
            update(outbox).where(outbox.c.id == ids[0]).values(due_at=utcnow() + timedelta(days=3))
        )
    assert [c.id for c in claim(engine, "crm", 10, lease_seconds=30)] == [ids[1]]


def test_release_hands_rows_back_without_an_attempt(engine):
    fill(engine, "crm", [event("e1", "c1")])
    [row] = claim(engine, "crm", 10, lease_seconds=30)
    release(engine, [row.id])
    [stored] = rows(engine, "crm")
    assert (stored.status, stored.attempts, stored.claimed_until) == ("pending", 0, None)


def test_concurrent_claimers_never_share_a_row(engine):
    fill(engine, "crm", [event(f"e{i}", None) for i in range(400)])
    got: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def worker(n: int) -> None:
        barrier.wait()
        while batch := claim(engine, "crm", 7, lease_seconds=30):
            got[n].extend(c.id for c in batch)
            # Give the other claimers a turn: on a loaded machine one thread could
            # otherwise drain the queue alone and the test would prove nothing.
            time.sleep(0.005)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    every = [i for ids in got for i in ids]
    assert len(every) == len(set(every)) == 400
    assert sum(1 for ids in got if ids) >= 2


def test_only_live_rows_of_the_same_profile_and_destination_hold_back(engine):
    # History of c1 (finished rows), a row of c1 in flight for another destination and an
    # expired lease of c2 hold nothing back; a retry of c3 still waiting does.
    old = fill(engine, "crm", [event(f"h{i}", "c1") for i in range(5)])
    fill(engine, "other", [event("o1", "c1")])
    waiting = fill(engine, "crm", [event("r1", "c3"), event("x2", "c2")])
    ids = fill(engine, "crm", [event("n1", "c1"), event("n2", "c2"), event("n3", "c3")])
    now = utcnow()
    with engine.begin() as conn:
        conn.execute(
            update(outbox).where(outbox.c.id.in_(old)).values(status="delivered", finished_at=now)
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.destination == "other")
            .values(status="inflight", claimed_until=now + timedelta(minutes=5))
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.id == waiting[0])
            .values(status="retry", attempts=1, due_at=now + timedelta(minutes=5))
        )
        conn.execute(
            update(outbox)
            .where(outbox.c.id == waiting[1])
            .values(status="inflight", claimed_until=now - timedelta(seconds=1))
        )
    got = [c.id for c in claim(engine, "crm", 10, lease_seconds=30)]
    # The expired lease is claimed again, and with it out of the way the rows behind it.
    assert got == [waiting[1], ids[0], ids[1]]


def test_a_claimed_row_holds_back_that_profiles_later_rows_until_recorded(engine):
    ids = fill(engine, "crm", [event("e1", "c1"), event("e2", "c2"), event("e3", "c1")])
    assert [c.id for c in claim(engine, "crm", 2, lease_seconds=30)] == ids[:2]
    assert claim(engine, "crm", 10, lease_seconds=30) == []
    release(engine, [ids[0]])
    # Handed back, it goes out again, and its profile's next row with it, behind it.
    assert [c.id for c in claim(engine, "crm", 10, lease_seconds=30)] == [ids[0], ids[2]]


def test_claimed_rows_carry_the_stored_row(engine):
    created = utcnow() - timedelta(hours=1)
    fill(engine, "crm", [event("e1", "c1")], route="r", purpose="analytics", created_at=created)
    [row] = claim(engine, "crm", 10, lease_seconds=30)
    assert (row.route, row.contact_id, row.kind, row.purpose, row.attempts) == (
        "r",
        "c1",
        "event",
        "analytics",
        0,
    )
    assert '"item_id":"e1"' in row.item
    assert row.created_at == created and row.created_at.utcoffset() == timedelta(0)


def test_finish_records_every_outcome_and_claims_the_next_batch(engine):
    from sqlalchemy import select

    from spokehub.delivery.record import SUPERSEDED, CallLog, Result, finish
    from spokehub.store.tables import delivery_attempts

    ids = fill(engine, "crm", [event(f"e{i}", f"c{i}") for i in range(7)])
    batch = claim(engine, "crm", 5, lease_seconds=30)
    now = utcnow()
    later = now + timedelta(minutes=2)
    results = [
        Result(ids[0], "delivered", 1, finished_at=now, external_id="ext-0"),
        Result(ids[1], "delivered", 1, finished_at=now, external_id="x" * 600),
        Result(ids[2], "delivered", 1, finished_at=now, error=f"{SUPERSEDED} {ids[0]}"),
        Result(ids[3], "retry", 1, due_at=later, error="HTTP 503 for ada@example.com"),
        Result(ids[4], "dead", 1, finished_at=now, error="rejected by the destination: bad"),
    ]
    call = CallLog(now, 12, 5, 3, 1, 1, "partial", error="TransientError HTTP 503")
    nxt = finish(engine, "crm", results, [call], None, [], claim_next=5, lease_seconds=30)
    assert [c.id for c in batch] == ids[:5]
    assert [c.id for c in nxt] == ids[5:]
    stored = {r.id: r for r in rows(engine, "crm")}
    assert [stored[i].status for i in ids] == [
        "delivered",
        "delivered",
        "delivered",
        "retry",
        "dead",
        "inflight",
        "inflight",
    ]
    assert stored[ids[0]].external_id == "ext-0"
    assert stored[ids[1]].external_id == "x" * 512
    assert stored[ids[2]].external_id is None and stored[ids[2]].last_error.startswith(SUPERSEDED)
    retry = stored[ids[3]]
    assert abs((utc(retry.due_at) - later).total_seconds()) < 0.001
    assert retry.finished_at is None and retry.claimed_until is None
    assert "ada@example.com" not in retry.last_error
    assert all(stored[i].attempts == 1 for i in ids[:5])
    assert abs((utc(stored[ids[0]].finished_at) - now).total_seconds()) < 0.001
    with engine.connect() as conn:
        [logged] = conn.execute(select(delivery_attempts)).all()
    assert (logged.destination, logged.items, logged.delivered, logged.result) == (
        "crm",
        5,
        3,
        "partial",
    )
    # A row no longer in flight (handed back meanwhile) is left alone.
    release(engine, [ids[5]])
    finish(engine, "crm", [Result(ids[5], "delivered", 1, finished_at=now)], [], None, [])
    assert {r.id: r.status for r in rows(engine, "crm")}[ids[5]] == "pending"
