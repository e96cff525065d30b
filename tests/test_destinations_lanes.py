"""Every destination spoke in a real delivery lane: credentials the tool refuses pause the
lane with a status that says so in the tool's own words, the item waits unsent (no
attempt spent), and once the credentials work again the lane resumes and delivers it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, select

from spokehub.delivery.lanes import Lane
from spokehub.delivery.settings import DeliverySettings
from spokehub.delivery.state import is_paused, resume
from spokehub.delivery.status import lane_status
from spokehub.store.tables import outbox
from spokehub.testing.outbox import fill
from spokehub_contracts import (
    AudienceEntered,
    Change,
    Destination,
    Identifier,
    Person,
    UpsertPerson,
)
from spokehub_hubspot import HubSpotDestination
from spokehub_hubspot.testing import SANDBOX_ACCESS_TOKEN, HubSpotSandbox
from spokehub_klaviyo import KlaviyoDestination
from spokehub_klaviyo.testing import SANDBOX_API_KEY, KlaviyoSandbox
from spokehub_meta_audiences import MetaAudiencesDestination
from spokehub_meta_audiences.testing import (
    SANDBOX_ACCESS_TOKEN as META_TOKEN,
)
from spokehub_meta_audiences.testing import (
    SANDBOX_AD_ACCOUNT_ID,
    MetaSandbox,
)
from spokehub_postgres import PostgresDestination
from spokehub_webhook import WebhookDestination
from spokehub_webhook.testing import SANDBOX_SECRET, WebhookReceiverSandbox

ADA = (Identifier(type="email", value="ada@example.com"),)
UPSERT = UpsertPerson(
    item_id="p-1",
    contact_id="c-ada",
    identifiers=ADA,
    person=Person(email="ada@example.com", first_name="Ada"),
)
ENTERED = AudienceEntered(item_id="a-1", contact_id="c-ada", identifiers=ADA, audience="buyers")
SETTINGS = DeliverySettings(idle_poll_seconds=0.01, shutdown_grace=1.0)
OTHER_SECRET = "whsec_b3RoZXIgc2VjcmV0IG9mIHR3ZW50eS1mb3VyIGJ5dGVz"


@dataclass(frozen=True)
class Case:
    """A destination, how to reach its tool, and what that tool says to bad credentials."""

    spoke: type[Destination]
    vendor: Callable[[], AbstractContextManager[str]]
    good: Callable[[str], dict[str, Any]]
    bad: Callable[[str], dict[str, Any]]
    change: Change
    says: str


@contextmanager
def served(sandbox: Any, path: str = "") -> Iterator[str]:
    with sandbox as running:
        yield running.url + path


@contextmanager
def warehouse() -> Iterator[str]:
    from spokehub.testing.fixtures import pg_base_url, pg_required, pg_unreachable, pg_verdict

    url = pg_verdict(pg_base_url(), pg_required(), pg_unreachable)
    url = url.replace("postgresql+psycopg://", "postgresql://")
    schema = f"lane_{uuid.uuid4().hex[:12]}"
    try:
        yield f"{url}#{schema}"
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def _pg(where: str, role: str) -> dict[str, Any]:
    url, schema = where.split("#")
    host = url.split("@", 1)[1]
    return {"url": f"postgresql://{role}@{host}", "schema": schema}


CASES = {
    "hubspot": Case(
        HubSpotDestination,
        lambda: served(HubSpotSandbox()),
        lambda url: {"base_url": url, "access_token": SANDBOX_ACCESS_TOKEN},
        lambda url: {"base_url": url, "access_token": "pat-na1-revoked-token"},
        UPSERT,
        "HTTP 401",
    ),
    "klaviyo": Case(
        KlaviyoDestination,
        lambda: served(KlaviyoSandbox()),
        lambda url: {"base_url": url, "api_key": SANDBOX_API_KEY},
        lambda url: {"base_url": url, "api_key": "pk_revoked"},
        UPSERT,
        "Incorrect authentication credentials",
    ),
    "meta_audiences": Case(
        MetaAudiencesDestination,
        lambda: served(MetaSandbox()),
        lambda url: {
            "base_url": url,
            "access_token": META_TOKEN,
            "ad_account_id": SANDBOX_AD_ACCOUNT_ID,
        },
        lambda url: {
            "base_url": url,
            "access_token": "revoked",
            "ad_account_id": SANDBOX_AD_ACCOUNT_ID,
        },
        ENTERED,
        "Invalid OAuth access token",
    ),
    "webhook": Case(
        WebhookDestination,
        lambda: served(WebhookReceiverSandbox(), "/hooks"),
        lambda url: {"url": url, "secret": SANDBOX_SECRET},
        lambda url: {"url": url, "secret": OTHER_SECRET},
        UPSERT,
        "401",
    ),
    "postgres": Case(
        PostgresDestination,
        warehouse,
        lambda where: _pg(where, "postgres"),
        lambda where: _pg(where, "no_such_role"),
        UPSERT,
        'role "no_such_role" does not exist',
    ),
}


def _lane(engine: Engine, case: Case, config: dict[str, Any]) -> Lane:
    spoke = case.spoke(case.spoke.Config.model_validate(config), connection="tool")
    return Lane(engine, "tool", spoke, settings=SETTINGS)


def _rows(engine: Engine) -> list[Any]:
    with engine.connect() as conn:
        return list(conn.execute(select(outbox.c.status, outbox.c.attempts)))


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.postgres) if n == "postgres" else n for n in sorted(CASES)],
)
def test_refused_credentials_pause_the_lane_until_they_work(
    name: str, sqlite_engine: Engine
) -> None:
    case = CASES[name]
    engine = sqlite_engine
    fill(engine, "tool", [case.change])
    with case.vendor() as where:

        async def attempt(config: dict[str, Any]) -> None:
            lane = _lane(engine, case, config)
            try:
                await lane.run_once()
            finally:
                await lane.spoke.aclose()

        asyncio.run(attempt(case.bad(where)))
        state = is_paused(engine, "tool")
        assert state.paused, _rows(engine)
        assert state.reason is not None
        assert "refused the credentials" in state.reason and case.says in state.reason
        [status] = lane_status(engine, ["tool"])
        assert status.state == "paused" and status.reason == state.reason
        assert _rows(engine) == [("pending", 0)]  # nothing sent for good, no attempt spent

        # The credentials are fixed: the lane resumes and the item goes out.
        assert resume(engine, "tool")
        asyncio.run(attempt(case.good(where)))
    assert _rows(engine) == [("delivered", 1)]
