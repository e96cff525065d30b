"""Graph's answers as Meta documents them, replayed with respx: the error object with its
code, the throttling codes and the X-Business-Use-Case-Usage header's wait in minutes, a
bad token answered 400 or 401, a missing permission, a passing outage, and check()."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from spokehub_contracts import (
    AudienceEntered,
    AuthError,
    CheckStatus,
    Identifier,
    Throttled,
    TransientError,
)
from spokehub_contracts.testing import FakeClock, intercept_clients
from spokehub_meta_audiences import (
    MetaAudiencesConfig,
    MetaAudiencesDestination,
    regain_access_seconds,
)

GRAPH = "https://graph.facebook.com"
ACCOUNT = f"{GRAPH}/v25.0/act_42"
USERS = f"{GRAPH}/v25.0/777/users"
TOKEN = "EAAB-secret-token-value"
CHANGE = AudienceEntered(
    item_id="1", identifiers=(Identifier(type="email", value="ada@example.com"),), audience="b"
)


def graph_error(code: int, status: int = 400, *, subcode: int | None = None, **extra: Any) -> dict:
    error = {"message": f"(#{code}) something", "type": "OAuthException", "code": code}
    if subcode:
        error["error_subcode"] = subcode
    return {"error": {**error, **extra, "fbtrace_id": "A1b2C3"}}


def buc(minutes: int) -> dict[str, str]:
    usage = {
        "42": [
            {
                "type": "custom_audience",
                "call_count": 100,
                "total_cputime": 10,
                "total_time": 10,
                "estimated_time_to_regain_access": minutes,
            }
        ]
    }
    return {"X-Business-Use-Case-Usage": json.dumps(usage)}


@pytest.fixture
def clock() -> Iterator[FakeClock]:
    clock = FakeClock()
    with intercept_clients(clock=clock):
        yield clock


def destination() -> MetaAudiencesDestination:
    config = MetaAudiencesConfig(access_token=TOKEN, ad_account_id="42", audiences={"b": "777"})
    return MetaAudiencesDestination(config, connection="meta")


def write() -> Any:
    async def main() -> Any:
        spoke = destination()
        try:
            return await spoke.write([CHANGE])
        finally:
            await spoke.aclose()

    return asyncio.run(main())


def check() -> Any:
    async def main() -> Any:
        spoke = destination()
        try:
            return await spoke.check()
        finally:
            await spoke.aclose()

    return asyncio.run(main())


def ok() -> httpx.Response:
    body = {"audience_id": "777", "session_id": "9", "num_received": 1, "num_invalid_entries": 0}
    return httpx.Response(200, json={**body, "invalid_entry_samples": {}})


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80000, 80003, 80014])
def test_every_throttling_code_is_throttled(clock: FakeClock, code: int) -> None:
    with respx.mock:
        respx.post(USERS).respond(400, json=graph_error(code))
        with pytest.raises(Throttled) as raised:
            write()
    # No stated wait: the default, longer than the client waits itself.
    assert raised.value.retry_after == 300
    assert clock.slept == []


def test_the_business_use_case_wait_is_read_in_minutes(clock: FakeClock) -> None:
    with respx.mock:
        route = respx.post(USERS).respond(
            400, json=graph_error(80003, subcode=2446079), headers=buc(2)
        )
        with pytest.raises(Throttled) as raised:
            write()
    assert raised.value.retry_after == 120
    assert route.call_count == 1


def test_a_one_minute_wait_is_waited_out_then_the_request_goes_again(clock: FakeClock) -> None:
    with respx.mock:
        route = respx.post(USERS)
        route.side_effect = [
            httpx.Response(400, json=graph_error(80003), headers=buc(1)),
            ok(),
        ]
        [outcome] = write()
    assert outcome.status == "delivered"
    assert clock.slept == [60.0]


def test_a_success_stating_a_wait_holds_the_next_request_back(clock: FakeClock) -> None:
    async def main() -> None:
        spoke = destination()
        try:
            await spoke.write([CHANGE])
            before = clock()
            await spoke.write([CHANGE])
            assert clock() - before >= 180
        finally:
            await spoke.aclose()

    with respx.mock:
        respx.post(USERS).side_effect = [
            httpx.Response(200, json=ok().json(), headers=buc(3)),
            ok(),
        ]
        asyncio.run(main())


@pytest.mark.parametrize(("status", "subcode"), [(400, 463), (400, 460), (401, None), (400, None)])
def test_code_190_is_a_refused_token_whatever_the_status(
    clock: FakeClock, status: int, subcode: int | None
) -> None:
    with respx.mock:
        route = respx.post(USERS).respond(status, json=graph_error(190, subcode=subcode))
        with pytest.raises(AuthError) as raised:
            write()
    assert raised.value.status_code == status
    assert "access token" in str(raised.value)
    assert TOKEN not in str(raised.value)
    assert route.call_count == 1  # not retried


@pytest.mark.parametrize("code", [10, 200, 294])
def test_a_missing_permission_is_an_auth_error(clock: FakeClock, code: int) -> None:
    with respx.mock:
        respx.post(USERS).respond(403 if code == 200 else 400, json=graph_error(code))
        with pytest.raises(AuthError, match="ads_management"):
            write()


def test_a_transient_graph_error_is_retried(clock: FakeClock) -> None:
    with respx.mock:
        route = respx.post(USERS)
        route.side_effect = [
            httpx.Response(500, json=graph_error(2, 500, is_transient=True)),
            httpx.Response(400, json=graph_error(1)),
            ok(),
        ]
        [outcome] = write()
    assert outcome.status == "delivered"
    assert route.call_count == 3


def test_a_graph_error_that_stays_is_a_transient_error(clock: FakeClock) -> None:
    with respx.mock:
        respx.post(USERS).respond(503, json=graph_error(2, 503, is_transient=True))
        with pytest.raises(TransientError):
            write()


def test_an_invalid_parameter_rejects_the_items(clock: FakeClock) -> None:
    with respx.mock:
        respx.post(USERS).respond(400, json=graph_error(100, subcode=1713230))
        [outcome] = write()
    assert outcome.status == "rejected"
    assert "(#100) something" in outcome.reason


def test_check_reads_the_ad_account(clock: FakeClock) -> None:
    with respx.mock:
        route = respx.get(ACCOUNT).respond(
            200, json={"id": "act_42", "name": "Shop", "account_status": 1}
        )
        result = check()
    assert result.status is CheckStatus.OK
    assert route.calls.last.request.url.params["fields"] == "id,name,account_status"
    assert route.calls.last.request.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    ("status", "body", "expected"),
    [
        (400, graph_error(190, subcode=463), CheckStatus.AUTH_ERROR),
        (401, graph_error(190), CheckStatus.AUTH_ERROR),
        (400, graph_error(100, subcode=33), CheckStatus.CONFIG_ERROR),
        (503, graph_error(2, 503, is_transient=True), CheckStatus.UNREACHABLE),
    ],
)
def test_check_tells_a_token_from_an_account_from_an_outage(
    clock: FakeClock, status: int, body: dict, expected: CheckStatus
) -> None:
    with respx.mock:
        respx.get(ACCOUNT).respond(status, json=body)
        result = check()
    assert result.status is expected
    assert TOKEN not in result.message


def test_check_tells_an_unreachable_graph(clock: FakeClock) -> None:
    with respx.mock:
        respx.get(ACCOUNT).side_effect = httpx.ConnectError("refused")
        result = check()
    assert result.status is CheckStatus.UNREACHABLE


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        (None, None),
        ("not json", None),
        ('{"42": [{"estimated_time_to_regain_access": 0}]}', None),
        (
            '{"42": [{"estimated_time_to_regain_access": 4}],'
            ' "7": [{"estimated_time_to_regain_access": 9}]}',
            540.0,
        ),
    ],
)
def test_the_usage_header_is_read_for_its_longest_wait(
    header: str | None, seconds: float | None
) -> None:
    headers = {"X-Business-Use-Case-Usage": header} if header else {}
    response = httpx.Response(200, headers=headers, request=httpx.Request("GET", GRAPH))
    assert regain_access_seconds(response) == seconds


def test_a_permanent_error_from_the_audience_list_is_no_crash(clock: FakeClock) -> None:
    async def main() -> Any:
        config = MetaAudiencesConfig(access_token=TOKEN, ad_account_id="42")
        spoke = MetaAudiencesDestination(config)
        try:
            return await spoke.write([CHANGE])
        finally:
            await spoke.aclose()

    with respx.mock:
        respx.get(f"{ACCOUNT}/customaudiences").respond(400, json=graph_error(100, subcode=33))
        [outcome] = asyncio.run(main())
    assert outcome.status == "rejected"
    assert outcome.reason.startswith("no Custom Audience for 'b'")
