"""HubSpot's limits and refusals on the sandbox, on a test clock: the burst limit kept and
its 429 waited out, the daily limit left to the hub with its wait, a refused token, a
missing scope, and ``check()`` telling them from an outage."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from hubspot_vendor import HubSpot, person

from spokehub_contracts import AuthError, CheckStatus, Delivered, RateLimit, Throttled
from spokehub_contracts.testing import FakeClock, Fault, intercept_clients, max_in_window
from spokehub_hubspot import BURST_LIMIT, HubSpotDestination
from spokehub_hubspot.testing import SANDBOX_READ_ONLY_TOKEN, HubSpotSandbox


def test_the_spoke_keeps_to_the_burst_limit_of_100_in_ten_seconds(hubspot: HubSpot) -> None:
    async def many(destination: HubSpotDestination) -> list[Any]:
        return [await destination.write([person(n)]) for n in range(250)]

    hubspot.run(many)
    assert len(hubspot.sandbox.requests) == 250
    assert hubspot.sandbox.rate_rejections == 0
    assert hubspot.sandbox.max_in_window(10.0) == 100
    # Paced, not throttled: the last request waited two windows on the test clock.
    arrivals = hubspot.sandbox.arrivals
    assert arrivals[-1] - arrivals[0] >= 20.0
    assert BURST_LIMIT.requests == 100 and BURST_LIMIT.per_seconds == 10.0


def test_a_ten_secondly_429_is_waited_out_for_the_window(hubspot: HubSpot) -> None:
    hubspot.sandbox.add_faults(Fault.vendor_throttle(3))
    [outcome] = hubspot.write([person(1)])
    assert isinstance(outcome, Delivered)
    first, second = hubspot.sandbox.requests
    assert first.status == 429 and second.status == 200
    # HubSpot's 429 names its policy and window, not a wait: the spoke waits the window.
    assert second.at - first.at >= 10.0
    assert 10.0 in hubspot.clock.slept


def test_429s_past_the_burst_limit_are_waited_out() -> None:
    clock = FakeClock()
    # A portal whose other apps spend half the budget: this spoke meets HubSpot's 429.
    sandbox = HubSpotSandbox(clock=clock, rate_limit=RateLimit(requests=50, per_seconds=10))
    with sandbox, intercept_clients(sandbox.transport(sleep=clock.sleep), clock=clock):
        hubspot = HubSpot(sandbox, clock)

        async def many(destination: HubSpotDestination) -> list[Any]:
            return [await destination.write([person(n)]) for n in range(120)]

        results = hubspot.run(many)
    assert all(isinstance(o, Delivered) for [o] in results)
    assert sandbox.rate_rejections > 0
    assert len(sandbox.contacts) == 120
    accepted = [r.at for r in sandbox.requests if r.status != 429]
    assert max_in_window(accepted, 10.0) <= 50
    # Each 429 was waited out for the window before the next request.
    for number, request in enumerate(sandbox.requests[:-1]):
        if request.status == 429:
            assert sandbox.requests[number + 1].at - request.at >= 10.0


def test_the_daily_limit_is_left_to_the_hub_with_its_wait(hubspot: HubSpot) -> None:
    hubspot.sandbox.exhaust_daily_limit()
    with pytest.raises(Throttled) as caught:
        hubspot.write([person(1)])
    assert 0 < caught.value.retry_after <= 24 * 3600
    assert caught.value.status_code == 429
    assert "daily limit" in caught.value.vendor_message
    assert hubspot.sandbox.contacts == {}


def test_a_refused_token_is_an_auth_error(hubspot: HubSpot) -> None:
    with pytest.raises(AuthError) as caught:
        hubspot.write([person(1)], access_token="pat-na1-wrong")
    assert caught.value.status_code == 401
    assert "Authentication credentials not found" in caught.value.vendor_message
    assert "pat-na1-wrong" not in str(caught.value)
    [request] = hubspot.sandbox.requests
    assert request.status == 401


def test_a_token_without_the_write_scope_is_an_auth_error(hubspot: HubSpot) -> None:
    with pytest.raises(AuthError) as caught:
        hubspot.write([person(1)], access_token=SANDBOX_READ_ONLY_TOKEN)
    assert caught.value.status_code == 403
    assert "scopes" in caught.value.vendor_message


def test_check_passes_with_the_sandbox_token(hubspot: HubSpot) -> None:
    result = hubspot.run(lambda d: d.check())
    assert result.status is CheckStatus.OK
    [request] = hubspot.sandbox.requests
    assert request.method == "GET" and request.path == "/crm/v3/objects/contacts"
    assert request.query == {"limit": "1"}


def test_check_tells_a_refused_token(hubspot: HubSpot) -> None:
    result = hubspot.run(lambda d: d.check(), access_token="pat-na1-wrong")
    assert result.status is CheckStatus.AUTH_ERROR
    assert "pat-na1-wrong" not in result.message


def test_check_tells_an_outage(hubspot: HubSpot) -> None:
    hubspot.sandbox.add_faults(*[Fault.error(503)] * 3)
    result = hubspot.run(lambda d: d.check())
    assert result.status is CheckStatus.UNREACHABLE


def test_check_tells_a_base_url_that_is_no_hubspot(hubspot: HubSpot) -> None:
    result = hubspot.run(lambda d: d.check(), base_url=hubspot.sandbox.url + "/elsewhere")
    assert result.status is CheckStatus.CONFIG_ERROR
    assert "404" in result.message


def test_check_uses_the_dated_path(hubspot: HubSpot) -> None:
    result = hubspot.run(lambda d: d.check(), api_version="2026-03")
    assert result.ok
    assert hubspot.sandbox.requests[0].path == "/crm/objects/2026-03/contacts"


def test_one_client_paces_concurrent_writes(hubspot: HubSpot) -> None:
    async def concurrently(destination: HubSpotDestination) -> None:
        await asyncio.gather(*(destination.write([person(n)]) for n in range(150)))

    hubspot.run(concurrently)
    assert hubspot.sandbox.rate_rejections == 0
    assert hubspot.sandbox.max_in_window(10.0) <= 100
