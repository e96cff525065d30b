"""Webshop scenario benchmark: signed Shopify ``orders/create`` webhooks at a steady rate
into a real ``spokehub serve`` on the embedded store, with 20 audiences mapped to Meta
and the orders routed to HubSpot, both the spokes' sandboxes (served by a process of
their own, so that the senders of the load do not slow their answers or their clocks).

Two figures, each measured on this run:

- **Latency**, from each webhook's acknowledgement (the hub answered 200: the order is
  committed to its inbox) to the last sandbox receiving its change: HubSpot the contact
  with the order, Meta the buyer added to every audience they entered (found by the
  hashed e-mail in the requests' bodies). p50, p99 and the worst, and how many orders
  reached both tools within the wait.
- **Pipeline rate with 20 audiences against none**: the inbox rows the run's webhooks
  made, put back as pending into fresh SQLite stores and drained by a pipeline worker in
  this process, with the 20 audiences and with none, in turn for ``--rounds`` rounds
  (medians; per second on the clock and per CPU second).

Klaviyo is left out: its API takes one profile or event a request and the spoke keeps
to 10 requests a second, so 50 orders a second cannot reach it at once (a rate limit of
the vendor's, not of the hub's).

    python bench/scenario.py [--rate 50] [--seconds 60] [--rounds 3] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import hashlib
import multiprocessing
import os
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml
from sqlalchemy import text

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from audiences import audiences as twenty_audiences  # noqa: E402

from demo.webshop import shop  # noqa: E402
from demo.webshop.hub import Hub, wait_for  # noqa: E402
from spokehub.config import validate  # noqa: E402
from spokehub.pipeline import Pipeline  # noqa: E402
from spokehub.registry import Registry  # noqa: E402
from spokehub.store import create_store_engine, upgrade  # noqa: E402
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN as HUBSPOT_TOKEN  # noqa: E402
from spokehub_hubspot.testing import HubSpotSandbox  # noqa: E402
from spokehub_meta_audiences.testing import SANDBOX_ACCESS_TOKEN as META_TOKEN  # noqa: E402
from spokehub_meta_audiences.testing import SANDBOX_AD_ACCOUNT_ID, MetaSandbox  # noqa: E402
from spokehub_shopify.testing import SANDBOX_ACCESS_TOKEN as SHOPIFY_TOKEN  # noqa: E402
from spokehub_shopify.testing import SANDBOX_WEBHOOK_SECRET, ShopifySandbox  # noqa: E402

SPOKES = ("shopify", "hubspot", "meta_audiences")
_HASH = re.compile(rb"[0-9a-f]{64}")
_EMAIL = re.compile(rb"buyer-(\d+)@example\.com")


def project(folder: Path, urls: dict[str, str], activated: bool) -> dict:
    return {
        "version": 1,
        "store": {"url": f"sqlite:///{folder / 'hub.db'}"},
        "server": {"host": "127.0.0.1", "port": 8700, "admin_token": "${SPOKEHUB_ADMIN_TOKEN}"},
        "connections": {
            "shop": {
                "kind": "source",
                "spoke": "shopify",
                "config": {
                    "base_url": urls["shopify"],
                    "access_token": SHOPIFY_TOKEN,
                    "webhook_secret": SANDBOX_WEBHOOK_SECRET,
                },
            },
            "crm": {
                "kind": "destination",
                "spoke": "hubspot",
                "config": {"base_url": urls["hubspot"], "access_token": HUBSPOT_TOKEN},
            },
            "meta": {
                "kind": "destination",
                "spoke": "meta_audiences",
                "config": {
                    "base_url": urls["meta"],
                    "access_token": META_TOKEN,
                    "ad_account_id": SANDBOX_AD_ACCOUNT_ID,
                },
            },
        },
        "routes": [{"to": "crm", "kinds": ["event"], "events": ["Order Completed"]}],
        "audiences": _audiences() if activated else {},
    }


def _audiences() -> dict:
    out = twenty_audiences()
    for a in out.values():
        a["to"] = ["meta"]
    return out


class Load:
    """Orders for new customers, sent at a steady rate; the acknowledgement of each."""

    def __init__(self, hub: Hub, shopify: ShopifySandbox) -> None:
        self.hub = hub
        self.shopify = shopify
        self.acked: dict[int, float] = {}
        self.failed = 0
        self.late = 0
        self._lock = threading.Lock()
        self._local = threading.local()

    def _client(self) -> httpx.Client:
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = httpx.Client(timeout=30)
        return client

    def order(self, n: int) -> None:
        shopify = self.shopify
        gid = shop.new_customer(shopify, f"buyer-{n}@example.com", "Buyer", str(n))
        purchase = shop.new_order(shopify, gid)
        body, headers = shop.signed(
            shopify, "orders/create", shopify.order_payload(purchase.order_gid)
        )
        try:
            answer = self._client().post(
                self.hub.webhook_url("shop"), content=body, headers=headers
            )
        except httpx.HTTPError:
            answer = None
        at = time.monotonic()
        with self._lock:
            if answer is not None and answer.status_code == 200:
                self.acked[n] = at
            else:
                self.failed += 1

    def run(self, rate: float, seconds: float, first: int = 0) -> None:
        """``rate`` orders a second for ``seconds``, each sent at its own moment (a pool
        of senders, so one slow answer does not hold back the next order)."""
        total = int(rate * seconds)
        start = time.monotonic() + 0.2
        with ThreadPoolExecutor(max_workers=16) as pool:
            for i in range(total):
                due = start + i / rate
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                elif wait < -0.05:
                    self.late += 1
                pool.submit(self.order, first + i)


class Receivers:
    """HubSpot's and Meta's sandboxes in a process of their own, so that the senders of
    the load (threads of this process) neither hold up their answers nor the times they
    log (the monotonic clock is the machine's, the same in both processes)."""

    def __init__(self) -> None:
        self.conn, child = multiprocessing.Pipe()
        context = multiprocessing.get_context("fork")  # before any thread is started
        self.proc = context.Process(target=_receive, args=(child,), daemon=True)
        self.proc.start()
        self.urls: dict[str, str] = self.conn.recv()
        #: (arrival, body) of HubSpot's upserts and of Meta's user changes, answered 2xx.
        self.hubspot: list[tuple[float, bytes]] = []
        self.meta: list[tuple[float, bytes]] = []

    def poll(self) -> None:
        self.conn.send("poll")
        hubspot, meta = self.conn.recv()
        self.hubspot += hubspot
        self.meta += meta

    def answers(self) -> dict[str, dict[int, int]]:
        """How often each sandbox answered each status."""
        self.conn.send("answers")
        return dict(self.conn.recv())

    def close(self) -> None:
        self.conn.send("stop")
        self.proc.join(30)


def _receive(conn: Any) -> None:
    hubspot, meta = HubSpotSandbox(), MetaSandbox()
    with hubspot, meta:
        conn.send({"hubspot": hubspot.url, "meta": meta.url})
        # Per sandbox: the first request not answered yet when last polled, and those
        # after it already sent (answers do not come back in arrival order).
        seen, sent = [0, 0], [set(), set()]
        while (command := conn.recv()) != "stop":
            if command == "answers":
                conn.send({"HubSpot": dict(hubspot.answers), "Meta": dict(meta.answers)})
                continue
            out = []
            for i, (sandbox, suffix) in enumerate(((hubspot, "/batch/upsert"), (meta, "/users"))):
                with sandbox.lock:
                    fresh = list(enumerate(sandbox.requests))[seen[i] :]
                first_open = None
                found = []
                for k, r in fresh:
                    if r.status is None:
                        first_open = k if first_open is None else first_open
                    elif k not in sent[i]:
                        sent[i].add(k)
                        if r.body and r.status < 300 and r.path.endswith(suffix):
                            found.append((r.at, r.body))
                seen[i] = first_open if first_open is not None else seen[i] + len(fresh)
                out.append(found)
            conn.send(out)


def arrivals(receivers: Receivers) -> dict[int, float]:
    """Order number → when the last of HubSpot and Meta received its change."""
    hubspot, meta = arrivals_by_tool(receivers)
    return {n: max(at, meta[n]) for n, at in hubspot.items() if n in meta}


def arrivals_by_tool(receivers: Receivers) -> tuple[dict[int, float], dict[int, float]]:
    """Order number → when HubSpot, and when Meta (its last audience), had its change."""
    receivers.poll()
    hubspot: dict[int, float] = {}
    for at, body in receivers.hubspot:
        for m in _EMAIL.findall(body):
            hubspot.setdefault(int(m), at)
    meta: dict[bytes, float] = {}
    for at, body in receivers.meta:
        for h in _HASH.findall(body):
            meta[h] = max(meta.get(h, 0.0), at)
    by_number = {}
    for n in hubspot:
        h = hashlib.sha256(f"buyer-{n}@example.com".encode()).hexdigest().encode()
        if h in meta:
            by_number[n] = meta[h]
    return hubspot, by_number


def latency(args: argparse.Namespace, folder: Path) -> tuple[list[tuple], dict]:
    """The steady run; answers the inbox rows it made (connection, kind, body) and its
    project."""
    receivers = Receivers()
    try:
        with ShopifySandbox(customers=0, orders=0, keep_bodies=False) as shopify:
            made = project(folder, {**receivers.urls, "shopify": shopify.url}, True)
            (folder / "spokehub.yaml").write_text(yaml.safe_dump(made))
            hub = Hub(folder)
            hub.start()
            try:
                load = Load(hub, shopify)
                load.run(args.rate, 2, first=1_000_000)  # warm-up, not counted
                wait_for(lambda: len(arrivals(receivers)) >= len(load.acked), seconds=60, every=0.5)
                warm = set(load.acked)
                load.acked.clear()
                began = time.monotonic()
                load.run(args.rate, args.seconds)
                sent = time.monotonic() - began
                # An order that never arrives is counted as missing, not waited for ever.
                with contextlib.suppress(TimeoutError):
                    wait_for(
                        lambda: (
                            all(n in got for n in load.acked)
                            if (got := arrivals(receivers))
                            else False
                        ),
                        seconds=120,
                        every=0.5,
                    )
                got = arrivals(receivers)
                each = arrivals_by_tool(receivers)
                answers = receivers.answers()
            finally:
                code = hub.stop()
                hub.close()
    finally:
        receivers.close()
    delays = sorted(got[n] - t for n, t in load.acked.items() if n in got and n not in warm)
    total = int(args.rate * args.seconds)
    print(
        f"SQLite, spokehub serve: {total} orders/create webhooks at {args.rate:g}/s for"
        f" {args.seconds:g} s (sent in {sent:.1f} s, {load.late} late by over 50 ms),"
        f" 20 audiences mapped to Meta, orders to HubSpot"
    )
    print(
        f"  acknowledged {len(load.acked)}, failed {load.failed};"
        f" reached HubSpot and Meta: {len(delays)}; daemon exit {code}"
    )
    if delays:
        p50 = statistics.median(delays)
        p99 = _p99(delays)
        print(
            f"  acknowledgement → last sandbox: p50 {p50 * 1000:,.0f} ms,"
            f" p99 {p99 * 1000:,.0f} ms, worst {delays[-1] * 1000:,.0f} ms"
            f" (target p99 < 500 ms)"
        )
    for name, seen in zip(("HubSpot", "Meta"), each, strict=True):
        alone = sorted(seen[n] - t for n, t in load.acked.items() if n in seen)
        if alone:
            print(
                f"    {name} alone: p50 {statistics.median(alone) * 1000:,.0f} ms,"
                f" p99 {_p99(alone) * 1000:,.0f} ms"
            )
    for name, counts in answers.items():
        shown = ", ".join(f"{n} x {status}" for status, n in sorted(counts.items()))
        print(f"    {name} answered {shown}")
    engine = create_store_engine(f"sqlite:///{folder / 'hub.db'}")
    try:
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT connection, kind, body FROM inbox ORDER BY id")).all()
    finally:
        engine.dispose()
    return [tuple(r) for r in rows], made


def _p99(ordered: list[float]) -> float:
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def drain(folder: Path, rows: list[tuple], made: dict, activated: bool) -> tuple[float, float]:
    url = f"sqlite:///{folder / f'{uuid.uuid4().hex}.db'}"
    engine = create_store_engine(url)
    upgrade(engine)
    raw = engine.raw_connection()
    try:
        raw.cursor().executemany(
            "INSERT INTO inbox (connection, kind, body, received_at, status)"
            " VALUES (?, ?, ?, CURRENT_TIMESTAMP, 'pending')",
            rows,
        )
        raw.commit()
    finally:
        raw.close()
    audiences = made["audiences"] if activated else {}
    proj = validate(made | {"store": {"url": url}, "audiences": audiences})
    pipeline = Pipeline(engine, proj, Registry.load(allow=SPOKES))
    gc.collect()
    os.sync()
    started, cpu = time.perf_counter(), time.process_time()
    stats = pipeline.drain()
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    engine.dispose()
    if stats.processed != len(rows):
        raise RuntimeError(f"{stats.processed} of {len(rows)} processed")
    return elapsed, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=50)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="same as --seconds 10 --rounds 1")
    args, _ = parser.parse_known_args()
    if args.quick:
        args.seconds, args.rounds = 10, 1
    print(f"load average at start: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        rows, made = latency(args, folder)
        wall: dict[bool, list[float]] = {False: [], True: []}
        cpu: dict[bool, list[float]] = {False: [], True: []}
        for n in range(args.rounds):
            for activated in (False, True) if n % 2 == 0 else (True, False):
                seconds, cpu_seconds = drain(folder, rows, made, activated)
                wall[activated].append(seconds)
                cpu[activated].append(cpu_seconds)
    print(f"  pipeline alone on the run's {len(rows)} inbox rows, median of {args.rounds} rounds:")
    for activated, label in ((False, "no audiences"), (True, "20 audiences")):
        rate = len(rows) / statistics.median(wall[activated])
        cpu_rate = len(rows) / statistics.median(cpu[activated])
        print(f"    {label:<13} {rate:>7,.0f} events/s; {cpu_rate:>7,.0f} per CPU second")
    ratio = statistics.median(wall[True]) / statistics.median(wall[False])
    cpu_ratio = statistics.median(cpu[True]) / statistics.median(cpu[False])
    print(
        f"    cost of 20 audiences: {ratio:.2f} x the time on the clock,"
        f" {cpu_ratio:.2f} x per CPU second"
    )
    print(f"load average at end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
