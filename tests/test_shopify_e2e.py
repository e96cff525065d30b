"""End to end through ``spokehub serve`` with the Shopify sandbox: signed webhooks in
(refused unsigned, stored once when delivered twice, a redaction carried out as a privacy
request), and a pull of 5,000 customers that survives throttling and a SIGKILL of the hub
mid-run with every customer in the hub exactly once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import create_engine, text

from spokehub_contracts.testing import Fault
from spokehub_shopify.testing import SANDBOX_ACCESS_TOKEN, SANDBOX_WEBHOOK_SECRET, ShopifySandbox

from .daemon import ADMIN, Daemon, free_port, wait_until


def _project(
    tmp_path: Path, port: int, url: str, *, schedule: float | None = None, **config: Any
) -> Path:
    shop: dict[str, Any] = {
        "kind": "source",
        "spoke": "shopify",
        "config": {
            "base_url": url,
            "access_token": "${SHOPIFY_ACCESS_TOKEN}",
            "webhook_secret": "${SHOPIFY_WEBHOOK_SECRET}",
            **config,
        },
    }
    if schedule is not None:
        shop["schedule"] = schedule
    path = tmp_path / "spokehub.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "store": {"url": f"sqlite:///{tmp_path / 'hub.db'}"},
                "server": {
                    "host": "127.0.0.1",
                    "port": port,
                    "admin_token": ADMIN,
                    # A killed run's lease is taken over this soon after its last renewal.
                    "sync_lease_seconds": 3,
                },
                "connections": {"shop": shop},
            }
        )
    )
    return path


def _count(tmp_path: Path, sql: str, **params: Any) -> int:
    engine = create_engine(f"sqlite:///{tmp_path / 'hub.db'}")
    try:
        with engine.connect() as conn:
            return int(conn.execute(text(sql), params).scalar() or 0)
    finally:
        engine.dispose()


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", SANDBOX_ACCESS_TOKEN)
    monkeypatch.setenv("SHOPIFY_WEBHOOK_SECRET", SANDBOX_WEBHOOK_SECRET)


def test_webhooks_signed_stored_once_and_a_redaction_carried_out(
    tmp_path: Path, secrets: None
) -> None:
    port = free_port()
    with ShopifySandbox(customers=5, orders=5) as shop:
        daemon = Daemon(_project(tmp_path, port, shop.url), port, plugins="shopify").start()
        hook = f"{daemon.url}/v1/webhooks/shop"
        try:
            order = shop.order_payload(sorted(shop.orders)[1])
            inbox = "SELECT count(*) FROM inbox"

            # Wrong secret, no signature: 401 and nothing stored.
            wrong = shop.send(hook, "orders/create", order, secret="not-the-secret")
            assert wrong.status_code == 401, wrong.text
            unsigned = httpx.post(
                hook,
                json=order,
                headers={"X-Shopify-Topic": "orders/create", "X-Shopify-Event-Id": "e-0"},
            )
            assert unsigned.status_code == 401, unsigned.text
            assert _count(tmp_path, inbox) == 0

            # Signed: 200, and the same event delivered twice (Shopify retries) is one.
            first = shop.send(hook, "orders/create", order, event_id="evt-1001")
            assert first.status_code == 200, first.text
            again = shop.send(hook, "orders/create", order, event_id="evt-1001")
            assert again.status_code == 200, again.text
            # orders/paid about the same order gives the same Order Completed.
            paid = shop.send(hook, "orders/paid", order, event_id="evt-1002")
            assert paid.status_code == 200, paid.text
            # The sandbox's command line, as the demo sends a webhook.
            update = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "spokehub_shopify.testing",
                    "webhook",
                    hook,
                    "--topic",
                    "customers/update",
                    "--number",
                    "1",
                    "--event-id",
                    "evt-customer-1",
                ],
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert update.returncode == 0 and update.stdout.startswith("200"), update.stdout
            # The same event delivered again, its body in another shape (an app subscribed
            # in two API versions): one event, by X-Shopify-Event-Id.
            customer = shop.customer_payload(sorted(shop.customers)[1])
            repeat = shop.send(
                hook,
                "customers/update",
                {**customer, "first_name": "Grace B."},
                event_id="evt-customer-1",
            )
            assert repeat.status_code == 200, repeat.text

            orders = "SELECT count(*) FROM events WHERE event = 'Order Completed'"
            wait_until(lambda: _count(tmp_path, orders) >= 1)
            daemon.wait_idle()
            assert _count(tmp_path, orders) == 1
            # The order once, and the customer's person (its consent undecided).
            assert _count(tmp_path, inbox) == 2
            known = "SELECT count(*) FROM identifiers WHERE value = 'customer1@example.com'"
            assert _count(tmp_path, known) == 1

            redacted = sorted(shop.customers)[3]
            redact = shop.send(
                hook, "customers/redact", shop.redact_payload(redacted), event_id="evt-redact-3"
            )
            assert redact.status_code == 200, redact.text
            wait_until(lambda: _privacy_requests(tmp_path) > 0)
            daemon.wait_idle()
        finally:
            assert daemon.stop() == 0
    assert _privacy_requests(tmp_path) == 1
    # The person the redaction names was never made a profile by it.
    gone = "SELECT count(*) FROM identifiers WHERE value = 'customer3@example.com'"
    assert _count(tmp_path, gone) == 0


def _privacy_requests(tmp_path: Path) -> int:
    """The shop's redaction, filed as a delete request and carried out."""
    return _count(
        tmp_path,
        "SELECT count(*) FROM privacy_requests WHERE action = 'delete'"
        " AND reference = 'evt-redact-3' AND source = 'shop' AND status = 'done'",
    )


@pytest.mark.slow
def test_a_pull_of_5000_customers_survives_throttling_and_a_sigkill(
    tmp_path: Path, secrets: None
) -> None:
    port = free_port()
    customers = 5000
    # 25 pages of 200; a bucket that runs dry part-way (each page costs 202 points), an
    # explicit THROTTLED on the 6th query, and answers slow enough to kill the hub
    # between two pages.
    shop = ShopifySandbox(customers=customers, orders=0, bucket=1000, restore_rate=100)
    shop.faults.latency = 0.1
    shop.add_faults(*[Fault.passthrough()] * 5, Fault.vendor_throttle(1.5))
    persons = (
        "SELECT count(*) FROM inbox WHERE kind = 'record' AND body LIKE '%\"kind\":\"person\"%'"
    )
    with shop:
        config = _project(
            tmp_path, port, shop.url, schedule=3600, streams=["customers"], customers_page_size=200
        )
        daemon = Daemon(config, port, plugins="shopify").start()
        try:
            wait_until(lambda: len(shop.requests_to("/admin/api/{version}/graphql.json")) >= 12)
            committed = _count(tmp_path, persons)
        finally:
            daemon.kill(whole=True)
        pages_before = len(shop.requests)
        assert 0 < committed < customers, committed
        assert shop.throttled >= 1

        daemon = Daemon(config, port, plugins="shopify").start()
        try:

            def finished() -> bool:
                answer = daemon.admin("/v1/syncs", connection="shop", status="succeeded")
                return answer.status_code == 200 and bool(answer.json())

            wait_until(finished, 180)
            daemon.wait_idle(120)
            runs = daemon.admin("/v1/syncs", connection="shop").json()
        finally:
            assert daemon.stop() == 0
    assert [r["status"] for r in runs] == ["succeeded", "interrupted"], runs
    resumed, killed = runs
    assert "stopped without finishing" in (killed["error"] or "")
    assert killed["records"] > 0 and killed["checkpoints"] > 0
    # The resumed run started at the killed run's last checkpoint: between them they
    # committed every person once (and the consents beside them).
    assert _count(tmp_path, persons) == customers
    assert len(shop.requests) - pages_before < 25
    ids = "SELECT count(*) FROM identifiers WHERE type = 'shopify:customer_id'"
    assert _count(tmp_path, ids) == customers
    profiles = (
        "SELECT count(DISTINCT contact_id) FROM identifiers WHERE type = 'shopify:customer_id'"
    )
    assert _count(tmp_path, profiles) == customers
    assert resumed["records"] + killed["records"] >= customers
