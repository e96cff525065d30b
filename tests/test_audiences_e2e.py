"""End to end through ``spokehub serve``: an order moves a buyer from the prospects into
the customers audience at the Meta sandbox (hashed e-mail) and in the CRM file; a month
later (the activation clock moved) the order has aged out and the reconcile moves them
back, and the onboarding journey's event, due three days after the order, is sent once,
even when the daemon is killed between scheduling and the due time."""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, func, select

from spokehub.journeys.tables import journey_timers
from spokehub.store.tables import outbox
from spokehub_meta_audiences.testing import (
    SANDBOX_ACCESS_TOKEN,
    SANDBOX_AD_ACCOUNT_ID,
    MetaSandbox,
)

from .daemon import WRITE_KEY, Daemon, free_port, wait_until
from .serving import destination_project

EMAIL = "ada@example.com"
HASH = hashlib.sha256(EMAIL.encode()).hexdigest()


def _project(tmp_path: Path, port: int, store: str, meta_url: str | None) -> Path:
    destinations: dict[str, Any] = {
        "crm": {"spoke": "files", "config": {"path": "out/crm.jsonl"}},
    }
    ads = []
    if meta_url:
        ads = ["meta"]
        destinations["meta"] = {
            "spoke": "meta_audiences",
            "config": {
                "access_token": SANDBOX_ACCESS_TOKEN,
                "ad_account_id": SANDBOX_AD_ACCOUNT_ID,
                "base_url": meta_url,
            },
        }
    return destination_project(
        tmp_path,
        port,
        destinations,
        store=store,
        audiences={
            "customers": {
                "where": {"event": "Order Completed", "within_days": 30},
                "to": [*ads, "crm"],
            },
            "prospects": {
                "where": {
                    "all": [
                        {"trait": "email", "exists": True},
                        {"not": {"event": "Order Completed", "within_days": 30}},
                    ]
                },
                "to": ads or ["crm"],
            },
        },
        journeys={
            "onboarding": {
                "trigger": {"event": "Order Completed"},
                "after": "3d",
                "send": {
                    "event": "Onboarding Due",
                    "to": "crm",
                    "fields": {"order_id": "trigger.order_id"},
                },
            }
        },
        activation={"reconcile_seconds": 1, "timer_poll_seconds": 0.2},
    )


def _send(daemon: Daemon, batch: list[dict[str, Any]]) -> None:
    r = httpx.post(
        f"{daemon.url}/v1/batch", json={"batch": batch}, auth=(WRITE_KEY, ""), timeout=10
    )
    assert r.status_code == 200, r.text


def _order(user: str, order_id: str) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": user,
        "event": "Order Completed",
        "properties": {"order_id": order_id, "total": 40},
    }


def _crm(tmp_path: Path) -> list[dict[str, Any]]:
    path = tmp_path / "out" / "crm.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _audience_lines(tmp_path: Path) -> list[tuple[str, str]]:
    return [
        (c["kind"], c["audience"])
        for c in (line.get("change", line) for line in _crm(tmp_path))
        if c.get("kind", "").startswith("audience_")
    ]


def _onboardings(tmp_path: Path) -> list[dict[str, Any]]:
    return [
        c
        for c in (line.get("change", line) for line in _crm(tmp_path))
        if c.get("kind") == "event" and c["event"]["event"] == "Onboarding Due"
    ]


def _in(meta: MetaSandbox, name: str) -> bool:
    try:
        audience = meta.audience_named(name)
    except ValueError:
        return False
    return HASH in meta.hashes(audience["id"])


def test_an_order_moves_the_buyer_between_audiences_and_a_month_moves_them_back(tmp_path):
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    with MetaSandbox() as meta:
        port = free_port()
        config = _project(tmp_path, port, store, meta.url)
        daemon = Daemon(config, port, plugins="files,meta_audiences").start()
        try:
            _send(daemon, [{"type": "identify", "userId": "u1", "traits": {"email": EMAIL}}])
            wait_until(lambda: _in(meta, "prospects"))
            assert _in(meta, "prospects")
            _send(daemon, [_order("u1", "o-1")])
            wait_until(lambda: _in(meta, "customers") and not _in(meta, "prospects"))
            assert _in(meta, "customers") and not _in(meta, "prospects")
            wait_until(lambda: ("audience_entered", "customers") in _audience_lines(tmp_path))
            assert _audience_lines(tmp_path) == [("audience_entered", "customers")]
            listed = daemon.admin("/v1/audiences").json()
            assert {a["name"]: a["members"] for a in listed} == {"customers": 1, "prospects": 0}
            metrics = daemon.admin("/metrics").text
            assert 'spokehub_audience_members{audience="customers"} 1.0' in metrics
            assert 'spokehub_journey_timers{journey="onboarding",status="scheduled"} 1.0' in metrics
            assert _onboardings(tmp_path) == []  # due in three days
        finally:
            assert daemon.stop() == 0

        # A month on: nothing new arrives, the reconcile sees the order age out, and the
        # onboarding timer (due after three days) has long been due.
        daemon = Daemon(
            config, port, plugins="files,meta_audiences", env={"SPOKEHUB_CLOCK_OFFSET": "31d"}
        ).start()
        try:
            wait_until(lambda: _in(meta, "prospects") and not _in(meta, "customers"))
            assert _in(meta, "prospects") and not _in(meta, "customers")
            wait_until(lambda: len(_audience_lines(tmp_path)) == 2 and _onboardings(tmp_path))
            assert _audience_lines(tmp_path) == [
                ("audience_entered", "customers"),
                ("audience_exited", "customers"),
            ]
            (onboarding,) = _onboardings(tmp_path)
            assert onboarding["event"]["properties"] == {"order_id": "o-1"}
            metrics = daemon.admin("/metrics").text
            assert 'spokehub_journey_timers{journey="onboarding",status="fired"} 1.0' in metrics
        finally:
            assert daemon.stop() == 0


def _timers(store: str) -> list[str]:
    engine = create_engine(store)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(journey_timers.c.status)).scalars())
    finally:
        engine.dispose()


def test_a_timer_killed_before_it_was_due_fires_once_after_the_restart(tmp_path):
    store = f"sqlite:///{tmp_path / 'hub.db'}"
    port = free_port()
    config = _project(tmp_path, port, store, None)
    daemon = Daemon(config, port, plugins="files").start()
    try:
        _send(daemon, [_order("u1", "o-1"), _order("u1", "o-2")])
        wait_until(lambda: _timers(store) == ["scheduled"])
        assert _timers(store) == ["scheduled"]
    finally:
        daemon.kill(whole=True)
    for _ in range(2):
        daemon = Daemon(config, port, plugins="files", env={"SPOKEHUB_CLOCK_OFFSET": "4d"}).start()
        try:
            wait_until(lambda: len(_onboardings(tmp_path)) >= 1)
            time.sleep(1.0)  # several more looks for due timers
        finally:
            assert daemon.stop() == 0
        assert _timers(store) == ["fired"]
        (onboarding,) = _onboardings(tmp_path)
        assert onboarding["event"]["properties"] == {"order_id": "o-1"}


@pytest.mark.postgres
@pytest.mark.slow
def test_two_daemons_on_one_postgresql_store_fire_each_timer_once(pg_schema_url, tmp_path):
    users = [f"u{i}" for i in range(30)]
    port = free_port()
    config = _project(tmp_path, port, pg_schema_url, None)
    first = Daemon(config, port, plugins="files").start()
    try:
        _send(first, [_order(u, f"o-{u}") for u in users])
        wait_until(lambda: _timers(pg_schema_url).count("scheduled") == len(users))
        assert _timers(pg_schema_url).count("scheduled") == len(users)
    finally:
        assert first.stop() == 0
    ports = [free_port(), free_port()]
    later = {"SPOKEHUB_CLOCK_OFFSET": "4d"}
    daemons = [Daemon(config, p, plugins="files", env=later) for p in ports]
    try:
        for d in daemons:
            d.start()
        wait_until(lambda: _timers(pg_schema_url).count("fired") == len(users))
    finally:
        for d in daemons:
            d.stop()
    assert _timers(pg_schema_url) == ["fired"] * len(users)
    engine = create_engine(pg_schema_url)
    try:
        with engine.connect() as conn:
            sent = conn.execute(
                select(outbox.c.contact_id, func.count())
                .where(outbox.c.route == "journey:onboarding")
                .group_by(outbox.c.contact_id)
            ).all()
    finally:
        engine.dispose()
    assert len(sent) == len(users) and {n for _, n in sent} == {1}


def test_audience_membership_reaches_hubspot_as_a_contact_property(tmp_path):
    from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN as HUBSPOT_TOKEN
    from spokehub_hubspot.testing import HubSpotSandbox

    with HubSpotSandbox() as hubspot:
        port = free_port()
        crm = {
            "spoke": "hubspot",
            "config": {"base_url": hubspot.url, "access_token": HUBSPOT_TOKEN},
        }
        recent_buyers = {"where": {"event": "Order Completed", "within_days": 30}, "to": ["crm"]}
        config = destination_project(
            tmp_path,
            port,
            {"crm": crm},
            [{"to": "crm", "kinds": ["upsert_person"]}],
            audiences={"recent_buyers": recent_buyers},
        )
        daemon = Daemon(config, port, plugins="hubspot").start()
        try:
            _send(daemon, [{"type": "identify", "userId": "u1", "traits": {"email": EMAIL}}])
            _send(daemon, [_order("u1", "o-1")])

            def flagged() -> bool:
                contact = hubspot.contact(EMAIL)
                return bool(contact and contact["properties"].get("recent_buyers") == "true")

            wait_until(flagged)
        finally:
            assert daemon.stop() == 0
    contact = hubspot.contact(EMAIL)
    assert contact is not None and contact["properties"]["recent_buyers"] == "true"
