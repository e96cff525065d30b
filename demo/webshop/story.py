"""The webshop scenario, step by step, against the sandboxes and a real hub.

Each step does what a person or a tool does (a webhook, a click in Klaviyo, a request of
the data protection officer) and waits until the tools that should hear of it have; the
facts it saw are kept in :class:`Facts` for the end-to-end test to assert on.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.rule import Rule
from rich.table import Table

from spokehub_meta_audiences import MetaAudiencesConfig, MetaAudiencesDestination

from . import shop
from .hub import Hub, wait_for
from .timeline import Timeline
from .tools import KLAVIYO_WEBHOOK_SECRET, Tools

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "webshop"
#: The new customer of the story; the data team's scores file knows her already.
EMAIL = "mary.jackson@example.com"
EMAIL_HASH = hashlib.sha256(EMAIL.encode()).hexdigest()
#: The journey's delay in the project file: the demo moves the clock by as much.
ONBOARDING_AFTER = "3d"
LOOKALIKE = "customers lookalike 1% US"


@dataclass
class Facts:
    """What the story saw, for the test to hold it to."""

    lookalike_id: str = ""
    order_id: str = ""
    second_order_id: str = ""
    #: Seconds from the order webhook's acknowledgement to the last tool having the change.
    order_to_tools: float = 0.0
    scheduled: str = ""
    privacy: dict[str, Any] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def copy_project(folder: Path, tools: Tools) -> None:
    """The example project into ``folder`` with a ``.env`` naming the sandboxes."""
    shutil.copy(EXAMPLE / "spokehub.yaml", folder / "spokehub.yaml")
    shutil.copytree(EXAMPLE / "models", folder / "models", dirs_exist_ok=True)
    lines = [f"{name}={value}" for name, value in tools.env().items()]
    (folder / ".env").write_text("\n".join(lines) + "\n")


class Scenario:
    def __init__(self, folder: Path, tools: Tools, console: Console | None = None) -> None:
        self.folder = folder
        self.tools = tools
        self.console = console or Console(quiet=True)
        self.hub = Hub(folder)
        self.timeline = Timeline(tools)
        self.facts = Facts()
        self.http = httpx.Client(timeout=30)

    # -- the story -----------------------------------------------------------------------

    def run(self) -> Facts:
        started = time.monotonic()
        steps = (
            self.set_up,
            self.browse,
            self.buy,
            self.three_days_later,
            self.unsubscribe,
            self.erase,
        )
        try:
            for step in steps:
                began = time.monotonic()
                step()
                self.facts.seconds[step.__name__] = time.monotonic() - began
        finally:
            code = self.hub.stop()
            self.hub.close()
            self.http.close()
        if code != 0:
            raise RuntimeError(f"spokehub serve exited {code} on SIGTERM")
        self.facts.seconds["total"] = time.monotonic() - started
        return self.facts

    def say(self, title: str, text: str = "") -> None:
        self.console.print(Rule(f"[bold]{title}"))
        if text:
            self.console.print(text)

    def set_up(self) -> None:
        self.say(
            "1. Set-up",
            "The example project (examples/webshop) with the sandboxes of Shopify, HubSpot, Meta "
            "and Klaviyo on 127.0.0.1; the data team's scores and the shop's history pulled.",
        )
        copy_project(self.folder, self.tools)
        self.console.print(f"[dim]$ spokehub serve --port {self.hub.port}[/dim]")
        self.hub.start()
        # The history's buyers are the seed; the scored non-buyers the prospects.
        wait_for(
            lambda: (
                self.tools.meta_size("customers") >= 3 and self.tools.meta_size("prospects") >= 2
            )
        )
        self._audiences()
        self.facts.lookalike_id = asyncio.run(self._lookalike())
        self.console.print(
            f"Lookalike '{LOOKALIKE}' created once from the seed audience 'customers' "
            f"(Meta id {self.facts.lookalike_id}); Meta keeps it up to date as the seed changes."
        )
        # The history's deliveries done, so that the timeline shows the story alone.
        wait_for(lambda: all(lane["queued"] == 0 for lane in self.hub.lanes()), every=0.2)
        tools = self.tools
        self.console.print(
            f"During set-up HubSpot received {len(tools.hubspot.requests)} requests, Meta "
            f"{len(tools.meta.requests)}, Klaviyo {len(tools.klaviyo.requests)} (the history's "
            "people, orders and consents); the timeline below starts now."
        )
        self.timeline.begin()

    def _audiences(self) -> None:
        table = Table(title="GET /v1/audiences", title_justify="left")
        for column in ("audience", "members", "to", "description"):
            table.add_column(column)
        for audience in self.hub.admin("GET", "/v1/audiences").json():
            table.add_row(
                audience["name"],
                str(audience["members"]),
                ", ".join(audience.get("to") or ()),
                audience.get("description") or "",
            )
        self.console.print(table)

    async def _lookalike(self) -> str:
        env = self.tools.env()
        meta = MetaAudiencesDestination(
            MetaAudiencesConfig(
                access_token=env["META_ACCESS_TOKEN"],
                ad_account_id=env["META_AD_ACCOUNT_ID"],
                base_url=env["META_URL"],
            )
        )
        try:
            return await meta.create_lookalike(LOOKALIKE, "customers", country="US", ratio=0.01)
        finally:
            await meta.aclose()

    def browse(self) -> None:
        self.say(
            "2. Mary looks at teapots",
            f"The model scores {EMAIL} likely to buy (a prospect); the website's Segment calls "
            "add a product view (retargeting).",
        )
        self.timeline.step("website", "identify + track 'Product Viewed' (Segment /v1/batch)")
        answer = self.hub.segment(
            [
                {"type": "identify", "userId": "web-4711", "traits": {"email": EMAIL}},
                {
                    "type": "track",
                    "userId": "web-4711",
                    "event": "Product Viewed",
                    "properties": {"product_id": "8003", "name": "Kyusu teapot", "price": 59.0},
                },
            ]
        )
        answer.raise_for_status()
        wait_for(
            lambda: (
                self.tools.meta_members("retargeting", EMAIL_HASH)
                and self.tools.meta_members("prospects", EMAIL_HASH)
            )
        )

    def buy(self) -> None:
        self.say(
            "3. Mary buys",
            "Shopify signs and sends customers/create and orders/create to the hub.",
        )
        shopify = self.tools.shopify
        customer = shop.new_customer(shopify, EMAIL, "Mary", "Jackson")
        purchase = shop.new_order(shopify, customer)
        self.facts.order_id = purchase.order_id
        url = self.hub.webhook_url("shop")
        shop.send_purchase(self.http, url, shopify, purchase, new=True)
        acked = self.timeline.step("Shopify", f"orders/create #{purchase.order_id} acknowledged")

        def everywhere() -> bool:
            contact = self.tools.hubspot.contact(EMAIL)
            tools = self.tools
            return bool(
                contact
                and contact["properties"].get("last_order_id") == purchase.order_id
                and tools.meta_members("customers", EMAIL_HASH)
                and not tools.meta_members("retargeting", EMAIL_HASH)
                and not tools.meta_members("prospects", EMAIL_HASH)
            )

        wait_for(everywhere)
        self.facts.order_to_tools = time.monotonic() - acked
        self.console.print(
            f"The CRM has the contact with the order, and Meta has her out of retargeting and "
            f"prospects and in the seed, {self.facts.order_to_tools:.2f} s after the webhook "
            "was acknowledged."
        )
        listed = self.hub.run("journeys", "list").stdout
        self.console.print(listed.rstrip(), highlight=False)
        self.facts.scheduled = listed

    def three_days_later(self) -> None:
        self.say(
            "4. Three days later",
            "The hub restarts on a clock moved by three days (SPOKEHUB_CLOCK_OFFSET): the "
            "onboarding timer is due, its condition still holds, and the event goes to Klaviyo "
            "with the model's recommendations.",
        )
        self.hub.stop()
        self.timeline.step("hub", f"clock moved by {ONBOARDING_AFTER}; spokehub serve restarted")
        self.hub.start(clock_offset=ONBOARDING_AFTER)
        wait_for(lambda: self.tools.klaviyo.events_of(EMAIL, "Onboarding Due"))

    def unsubscribe(self) -> None:
        self.say(
            "5. Mary unsubscribes in Klaviyo",
            "Klaviyo's signed consent webhook reaches the hub; the consent ledger records the "
            "denial and every tool hears it. A second order then reaches the CRM (service) but "
            "no marketing tool.",
        )
        klaviyo = self.tools.klaviyo
        klaviyo.unsubscribe(EMAIL)
        answer = klaviyo.send_consent_webhooks(
            self.hub.webhook_url("klaviyo_consent"), KLAVIYO_WEBHOOK_SECRET
        )
        if answer is None or answer.status_code != 200:
            raise RuntimeError(f"the consent webhook was not acknowledged: {answer}")
        self.timeline.step("Klaviyo", "consent webhook: unsubscribed from e-mail marketing")
        wait_for(lambda: self.tools.hubspot.subscription(EMAIL, "7") == "NOT_SUBSCRIBED")

        suppressed_before = self.hub.lane("klaviyo")["suppressed"]
        shopify = self.tools.shopify
        purchase = shop.new_order(shopify, next(iter(self._gids(EMAIL))))
        self.facts.second_order_id = purchase.order_id
        shop.send_purchase(self.http, self.hub.webhook_url("shop"), shopify, purchase, new=False)
        self.timeline.step("Shopify", f"orders/create #{purchase.order_id} acknowledged")
        wait_for(
            lambda: (
                (self.tools.hubspot.contact(EMAIL) or {}).get("properties", {}).get("last_order_id")
                == purchase.order_id
            )
        )
        wait_for(lambda: self.hub.lane("klaviyo")["suppressed"] > suppressed_before)
        self.timeline.step("hub", "Klaviyo's copy of the second order held back: consent denied")

    def _gids(self, email: str) -> list[str]:
        return [g for g, c in self.tools.shopify.customers.items() if c.get("email") == email]

    def erase(self) -> None:
        self.say(
            "6. Mary asks to be forgotten",
            "An erasure request (POST /v1/privacy/requests) is carried out in the hub and sent "
            "to every tool that holds her; each answers with a receipt.",
        )
        self.timeline.step("DPO", f"erasure request for email:{EMAIL} (POST /v1/privacy/requests)")
        filed = self.hub.admin(
            "POST",
            "/v1/privacy/requests",
            json={"kind": "delete", "identifiers": [f"email:{EMAIL}"], "reference": "dpo-1"},
        )
        filed.raise_for_status()
        request_id = filed.json()["id"]
        self.timeline.step("hub", f"request {request_id} carried out in the hub's own tables")

        def done() -> dict[str, Any] | None:
            view = self.hub.admin("GET", f"/v1/privacy/requests/{request_id}").json()
            return view if view["status"] in ("done", "failed") else None

        view = wait_for(done, seconds=90, every=0.2)
        self.facts.privacy = view
        for receipt in view["receipts"]:
            self.timeline.step("hub", f"receipt from {receipt['destination']}: {receipt['status']}")
