"""Lanes against a misbehaving vendor: every item ends delivered or dead-lettered with a
reason, nothing is delivered twice, auth failures pause, restarts lose nothing."""

from __future__ import annotations

import asyncio
import time
from collections import deque

import pytest
from delivery_helpers import (
    FAST,
    Faults,
    destination_class,
    event,
    fill,
    lane_for,
    person,
    rows,
    run_until,
    settled,
)
from sqlalchemy.exc import OperationalError

from spokehub.delivery.claim import claim
from spokehub.delivery.status import lane_status


async def test_every_item_ends_delivered_or_dead_and_none_twice(sqlite_engine, vendors):
    faults = Faults(
        odds={"429": 0.1, "500": 0.1, "timeout": 0.03, "malformed_json": 0.08, "partial": 0.15},
        retry_after=0.1,
        # Well past the client's timeout, and the client's well past a healthy answer on
        # a loaded machine: a healthy answer given up on would be sent twice by design.
        timeout_seconds=3.0,
    )
    vendor = vendors(faults=faults)
    cls = destination_class("flaky", batch_size=10)
    changes = []
    for i in range(150):
        contact = f"c{i % 40}"
        if i % 3:
            changes.append(person(f"p{i}", contact, first_name=f"n{i}"))
        else:
            changes.append(event(f"e{i}", contact))
    fill(sqlite_engine, "crm", changes)
    lane = lane_for(sqlite_engine, vendor.url, cls)
    lane.spoke.client._client.timeout = 2.0  # give up on a stalled vendor quickly
    await run_until(lane, lambda: settled(sqlite_engine), timeout=60)
    await lane.spoke.aclose()

    final = rows(sqlite_engine)
    assert {r.status for r in final} <= {"delivered", "dead"}
    assert all(r.last_error for r in final if r.status == "dead")
    assert any(r.status == "dead" for r in final)  # partial failures reject some for good
    assert max(vendor.accepted.values()) == 1, "an item was delivered twice"
    sent_items = {r.item.split('"item_id":"')[1].split('"')[0] for r in final}
    assert set(vendor.accepted) <= sent_items
    # The injected faults really happened.
    assert {429, 500, 504}.issubset(vendor.answers)


async def test_dead_letter_after_max_attempts_with_redacted_summary(sqlite_engine, vendors):
    vendor = vendors(faults=Faults(odds={"500": 1.0}))
    fill(sqlite_engine, "crm", [person("p1", "c1", email="ada@example.com")])
    lane = lane_for(sqlite_engine, vendor.url, destination_class("down"))
    await run_until(lane, lambda: settled(sqlite_engine), timeout=30)
    await lane.spoke.aclose()
    [row] = rows(sqlite_engine)
    assert row.status == "dead"
    assert row.attempts == FAST.retry.max_attempts
    assert "gave up after" in row.last_error and "500" in row.last_error
    assert "fake-token" not in row.last_error
    [status] = lane_status(sqlite_engine, ["crm"])
    assert status.dead == 1 and "500" in status.last_error


async def test_retry_after_is_honoured(sqlite_engine, vendors):
    vendor = vendors(faults=Faults(script=deque(["429"]), retry_after=0.6))
    fill(sqlite_engine, "crm", [event("e1", "c1")])
    lane = lane_for(sqlite_engine, vendor.url, destination_class("throttled"))
    await run_until(lane, lambda: settled(sqlite_engine))
    await lane.spoke.aclose()
    assert len(vendor.arrivals) == 2
    assert vendor.arrivals[1] - vendor.arrivals[0] >= 0.6
    [row] = rows(sqlite_engine)
    assert (row.status, row.attempts) == ("delivered", 1)  # throttling costs no attempt


async def test_auth_failure_pauses_the_lane_without_burning_attempts(sqlite_engine, vendors):
    vendor = vendors(faults=Faults(auth_ok=False))
    fill(sqlite_engine, "crm", [event(f"e{i}", "c1") for i in range(3)])
    settings = FAST.__class__(**{**FAST.__dict__, "auth_probe_seconds": 0.3})
    lane = lane_for(sqlite_engine, vendor.url, destination_class("locked"), settings=settings)
    stop = asyncio.Event()
    task = asyncio.create_task(lane.run(stop))
    for _ in range(300):  # generous: CI machines are shared
        [status] = lane_status(sqlite_engine, ["crm"])
        if status.state == "paused" and not any(
            r.status == "inflight" for r in rows(sqlite_engine)
        ):
            break
        await asyncio.sleep(0.05)
    assert status.state == "paused" and "credentials" in status.reason
    assert "fake-token" not in status.reason
    assert {(r.status, r.attempts) for r in rows(sqlite_engine)} == {("pending", 0)}
    await asyncio.sleep(0.5)
    assert len(vendor.arrivals) == 1  # paused: no more batches, only credential probes

    vendor.faults.auth_ok = True  # the operator fixed the key; the probe notices
    for _ in range(200):
        if settled(sqlite_engine):
            break
        await asyncio.sleep(0.1)
    stop.set()
    await task
    await lane.spoke.aclose()
    assert {r.status for r in rows(sqlite_engine)} == {"delivered"}
    assert lane_status(sqlite_engine, ["crm"])[0].state != "paused"


async def test_a_hub_stopped_mid_batch_loses_nothing(sqlite_engine, vendors):
    vendor = vendors(faults=Faults(latency=1.0))
    fill(sqlite_engine, "crm", [person(f"p{i}", f"c{i}") for i in range(5)])
    cls = destination_class("slowish")
    settings = FAST.__class__(**{**FAST.__dict__, "shutdown_grace": 0.1})
    lane = lane_for(sqlite_engine, vendor.url, cls, settings=settings)
    stop = asyncio.Event()
    task = asyncio.create_task(lane.run(stop))
    await asyncio.sleep(0.4)  # the batch is at the vendor now
    stop.set()
    await task
    await lane.spoke.aclose()
    assert {r.status for r in rows(sqlite_engine)} == {"pending"}

    vendor.faults.latency = 0.0
    lane = lane_for(sqlite_engine, vendor.url, cls)
    await run_until(lane, lambda: settled(sqlite_engine))
    await lane.spoke.aclose()
    assert {r.status for r in rows(sqlite_engine)} == {"delivered"}
    assert sorted(vendor.accepted.values()) == [1] * 5


async def test_a_crashed_hub_rows_come_back_after_the_lease(sqlite_engine, vendors):
    vendor = vendors()
    fill(sqlite_engine, "crm", [event(f"e{i}", f"c{i}") for i in range(4)])
    claimed_at = time.monotonic()  # the vendor's clock: it stamps arrivals with it
    claim(sqlite_engine, "crm", 10, lease_seconds=0.5)  # claimed, then the process died
    lane = lane_for(sqlite_engine, vendor.url, destination_class("after-crash"))
    await run_until(lane, lambda: settled(sqlite_engine))
    await lane.spoke.aclose()
    # Not sent again before the lease ran out (counted from the claim, so a slow machine
    # between the claim and the lane's start cannot make it look early).
    assert min(vendor.arrivals) - claimed_at >= 0.3
    assert {r.status for r in rows(sqlite_engine)} == {"delivered"}


async def test_upserts_are_coalesced_and_sent_once(sqlite_engine, vendors):
    vendor = vendors()
    fill(
        sqlite_engine,
        "crm",
        [
            person("p1", "c1", first_name="Ada"),
            person("p2", "c1", last_name="Lovelace"),
            event("e1", "c1"),
        ],
    )
    lane = lane_for(sqlite_engine, vendor.url, destination_class("upserter"))
    assert await lane.run_once() == 3
    await lane.spoke.aclose()
    assert vendor.accepted == {"p2": 1, "e1": 1}
    [sent] = [i for i in vendor.batches[0] if i["item_id"] == "p2"]
    assert sent["person"]["last_name"] == "Lovelace"
    first, second, third = rows(sqlite_engine)
    assert first.status == "delivered" and first.last_error.startswith("superseded")
    assert [i["item_id"] for i in vendor.batches[0]] == ["p2", "e1"]
    assert second.external_id == "ext-p2" and third.status == "delivered"


async def test_a_destination_that_keeps_every_version_receives_every_upsert(sqlite_engine, vendors):
    vendor = vendors()
    fill(
        sqlite_engine,
        "crm",
        [person("p1", "c1", first_name="Ada"), person("p2", "c1", last_name="Lovelace")],
    )
    lane = lane_for(sqlite_engine, vendor.url, destination_class("history", upserts=False))
    assert await lane.run_once() == 2
    await lane.spoke.aclose()
    assert vendor.accepted == {"p1": 1, "p2": 1}
    assert [i["item_id"] for i in vendor.batches[0]] == ["p1", "p2"]
    assert {r.status for r in rows(sqlite_engine)} == {"delivered"}


async def test_denied_consent_is_recorded_as_suppressed(sqlite_engine, vendors):
    vendor = vendors()
    fill(sqlite_engine, "crm", [event("e1", "c1"), event("e2", "c2")], purpose="email_marketing")

    def consents(engine, contact_ids):
        return {"c1": {"email_marketing": False}}

    lane = lane_for(sqlite_engine, vendor.url, destination_class("mailer"), consent_reader=consents)
    await lane.run_once()
    await lane.spoke.aclose()
    first, second = rows(sqlite_engine)
    assert first.status == "suppressed" and "email_marketing denied" in first.last_error
    assert second.status == "delivered"
    assert set(vendor.accepted) == {"e2"}
    assert lane_status(sqlite_engine, ["crm"])[0].suppressed == 1


async def test_no_item_goes_out_when_consent_cannot_be_read(sqlite_engine, vendors):
    vendor = vendors()
    fill(sqlite_engine, "crm", [event("e1", "c1")], purpose="email_marketing")
    with sqlite_engine.begin() as conn:  # the store cannot answer for consent
        conn.exec_driver_sql("DROP TABLE consents")
    lane = lane_for(sqlite_engine, vendor.url, destination_class("mailer"))
    with pytest.raises(OperationalError):
        await lane.run_once()
    await lane.spoke.aclose()
    assert vendor.accepted == {}
    assert [r.status for r in rows(sqlite_engine)] == ["pending"]  # tried again later


async def test_consent_is_read_only_for_items_that_serve_a_purpose(sqlite_engine, vendors):
    vendor = vendors()
    fill(sqlite_engine, "crm", [event("e1", "c1"), event("e2", "c2")])
    fill(sqlite_engine, "crm", [event("e3", "c3"), event("e4", None)], purpose="analytics")
    asked: list[list[str]] = []

    def consents(engine, contact_ids):
        asked.append(list(contact_ids))
        return {"c1": {"analytics": False}, "c3": {"analytics": False}}

    lane = lane_for(sqlite_engine, vendor.url, destination_class("mailer"), consent_reader=consents)
    await lane.run_once()
    await lane.spoke.aclose()
    # c1's denial does not concern an item that serves no purpose; c3's does.
    assert asked == [["c3"]]
    assert [r.status for r in rows(sqlite_engine)] == [
        "delivered",
        "delivered",
        "suppressed",
        "delivered",
    ]
    assert set(vendor.accepted) == {"e1", "e2", "e4"}
