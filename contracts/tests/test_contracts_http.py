"""The toolkit's HTTP client, against a vendor faked with respx."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import respx
from pydantic import SecretStr

from spokehub_contracts import (
    AuthError,
    Capabilities,
    PermanentError,
    RateLimit,
    RateLimiter,
    SpokeClient,
    SpokeError,
    Throttled,
    TransientError,
    bearer_auth,
    parse_retry_after,
)

BASE = "https://api.vendor.test/v3"
TOKEN = "sk_live_9f8e7d6c5b4a3f2e1d0c"
EMAIL = "ada.lovelace@example.com"


class FakeTime:
    """A clock and a sleep that only advance each other, so waits cost no real time."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def vendor() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
async def client(fake_time: FakeTime) -> SpokeClient:
    async with SpokeClient(
        BASE,
        auth=bearer_auth(SecretStr(TOKEN)),
        clock=fake_time.clock,
        sleep=fake_time.sleep,
        attempts=3,
    ) as spoke_client:
        yield spoke_client


async def test_success_returns_the_response(vendor: respx.MockRouter, client: SpokeClient) -> None:
    route = vendor.get("/contacts/1").respond(200, json={"id": "1"})
    response = await client.get("contacts/1")
    assert response.json() == {"id": "1"}
    sent = route.calls.last.request
    assert sent.url == f"{BASE}/contacts/1"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["User-Agent"] == "spokehub"


async def test_default_timeouts(vendor: respx.MockRouter, client: SpokeClient) -> None:
    route = vendor.get("/ping").respond(204)
    await client.get("ping")
    timeout = route.calls.last.request.extensions["timeout"]
    assert timeout == {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 30.0}


async def test_auth_hook_is_called_at_send_time(vendor: respx.MockRouter) -> None:
    route = vendor.post("/events").respond(202)
    current = {"token": SecretStr("first-token")}
    seen_bodies: list[bytes] = []

    def auth(request: httpx.Request) -> dict[str, str]:
        seen_bodies.append(request.content)  # the hook may sign the body
        return {"X-Api-Key": current["token"].get_secret_value()}

    async with SpokeClient(BASE, auth=auth, headers={"Accept": "application/json"}) as client:
        await client.post("events", json={"a": 1})
        current["token"] = SecretStr("rotated-token")
        await client.post("events", json={"a": 2})
    keys = [call.request.headers["X-Api-Key"] for call in route.calls]
    assert keys == ["first-token", "rotated-token"]
    assert route.calls.last.request.headers["Accept"] == "application/json"
    assert seen_bodies == [b'{"a":1}', b'{"a":2}']


@pytest.mark.parametrize("status", [401, 403])
async def test_auth_errors_are_not_retried(
    vendor: respx.MockRouter, client: SpokeClient, status: int
) -> None:
    route = vendor.get("/me").respond(status, json={"message": f"invalid token {TOKEN}"})
    with pytest.raises(AuthError) as caught:
        await client.get("me")
    assert route.call_count == 1
    assert caught.value.status_code == status
    assert "check the connection's credentials" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert TOKEN not in caught.value.vendor_message


async def test_retry_after_seconds(
    vendor: respx.MockRouter, client: SpokeClient, fake_time: FakeTime
) -> None:
    route = vendor.post("/contacts").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(201)]
    )
    response = await client.post("contacts", json={})
    assert response.status_code == 201
    assert route.call_count == 2
    assert fake_time.sleeps[0] == 7.0


async def test_retry_after_http_date(
    vendor: respx.MockRouter, client: SpokeClient, fake_time: FakeTime
) -> None:
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=3), usegmt=True)
    vendor.post("/contacts").mock(
        side_effect=[httpx.Response(429, headers={"Retry-After": later}), httpx.Response(200)]
    )
    await client.post("contacts", json={})
    # HTTP-dates have whole seconds: the wait is 2 to 3 seconds.
    assert 1.5 < fake_time.sleeps[0] <= 3.0


async def test_throttled_until_attempts_run_out(
    vendor: respx.MockRouter, client: SpokeClient, fake_time: FakeTime
) -> None:
    route = vendor.get("/lists").respond(429, headers={"Retry-After": "2"}, text="slow down")
    with pytest.raises(Throttled) as caught:
        await client.get("lists")
    assert route.call_count == 3
    assert caught.value.retry_after == 2.0
    assert caught.value.vendor_message == "slow down"
    assert fake_time.sleeps == [2.0, 2.0]


async def test_a_long_retry_after_is_left_to_the_hub(
    vendor: respx.MockRouter, client: SpokeClient, fake_time: FakeTime
) -> None:
    route = vendor.get("/lists").respond(429, headers={"Retry-After": "3600"})
    with pytest.raises(Throttled) as caught:
        await client.get("lists")
    assert route.call_count == 1
    assert caught.value.retry_after == 3600
    assert fake_time.sleeps == []


async def test_429_without_retry_after_waits_the_default(
    vendor: respx.MockRouter, fake_time: FakeTime
) -> None:
    vendor.get("/x").mock(side_effect=[httpx.Response(429), httpx.Response(200)])
    async with SpokeClient(
        BASE, default_retry_after=1.5, clock=fake_time.clock, sleep=fake_time.sleep
    ) as client:
        await client.get("x")
    assert fake_time.sleeps == [1.5]


def _reset_after(response: httpx.Response) -> float | None:
    if response.headers.get("X-RateLimit-Remaining") == "0":
        return float(response.headers["X-RateLimit-Reset-After"])
    return None


async def test_throttle_signal_on_an_error_response(
    vendor: respx.MockRouter, fake_time: FakeTime
) -> None:
    exhausted = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "4"}
    vendor.get("/x").mock(side_effect=[httpx.Response(403, headers=exhausted), httpx.Response(200)])
    async with SpokeClient(
        BASE, throttle_signal=_reset_after, clock=fake_time.clock, sleep=fake_time.sleep
    ) as client:
        response = await client.get("x")
    assert response.status_code == 200  # a throttling 403 is not an AuthError
    assert fake_time.sleeps == [4.0]


async def test_throttle_signal_on_success_holds_back_the_next_request(
    vendor: respx.MockRouter, fake_time: FakeTime
) -> None:
    exhausted = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "4"}
    vendor.get("/x").mock(side_effect=[httpx.Response(200, headers=exhausted), httpx.Response(200)])
    async with SpokeClient(
        BASE, throttle_signal=_reset_after, clock=fake_time.clock, sleep=fake_time.sleep
    ) as client:
        first = await client.get("x")
        assert first.status_code == 200 and fake_time.sleeps == []
        await client.get("x")
    assert fake_time.sleeps == [4.0]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
async def test_transient_statuses_are_retried_with_backoff(
    vendor: respx.MockRouter, fake_time: FakeTime, status: int
) -> None:
    route = vendor.put("/x").respond(status, json={"error": "upstream"})
    async with SpokeClient(
        BASE, attempts=4, backoff=1.0, clock=fake_time.clock, sleep=fake_time.sleep
    ) as client:
        with pytest.raises(TransientError) as caught:
            await client.put("x", json={})
    assert route.call_count == 4
    assert caught.value.status_code == status
    assert caught.value.vendor_message == "upstream"
    first, second, third = fake_time.sleeps
    # Exponential steps of 1, 2, 4 s, each jittered within its upper half.
    assert 0.5 <= first <= 1.0 and 1.0 <= second <= 2.0 and 2.0 <= third <= 4.0


async def test_backoff_is_capped(vendor: respx.MockRouter, fake_time: FakeTime) -> None:
    vendor.get("/x").respond(500)
    async with SpokeClient(
        BASE, attempts=6, backoff=1.0, max_backoff=3.0, clock=fake_time.clock, sleep=fake_time.sleep
    ) as client:
        with pytest.raises(TransientError):
            await client.get("x")
    assert max(fake_time.sleeps) <= 3.0


async def test_a_transient_failure_then_success(
    vendor: respx.MockRouter, client: SpokeClient
) -> None:
    vendor.get("/x").mock(side_effect=[httpx.Response(502), httpx.Response(200, json=[1])])
    assert (await client.get("x")).json() == [1]


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("refused"),
    ],
)
async def test_timeouts_and_connection_errors_are_transient(
    vendor: respx.MockRouter, client: SpokeClient, failure: Exception
) -> None:
    route = vendor.get("/x").mock(side_effect=failure)
    with pytest.raises(TransientError) as caught:
        await client.get("x", params={"api_key": TOKEN})
    assert route.call_count == 3
    assert type(failure).__name__ in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


async def test_attempts_per_request(vendor: respx.MockRouter, client: SpokeClient) -> None:
    route = vendor.post("/orders").respond(503)
    with pytest.raises(TransientError):
        await client.post("orders", json={}, attempts=1)
    assert route.call_count == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"message": "email is invalid"}, "email is invalid"),
        ({"error": "invalid_request", "error_description": "bad scope"}, "bad scope"),
        ({"error": {"code": 100, "message": "Invalid parameter"}}, "Invalid parameter"),
        ({"detail": [{"loc": ["body", "x"], "msg": "field required"}]}, "field required"),
        ({"errors": [{"title": "Conflict"}]}, "Conflict"),
        ({"unexpected": True}, '{"unexpected":true}'),
    ],
)
async def test_permanent_error_carries_the_vendor_message(
    vendor: respx.MockRouter, client: SpokeClient, body: object, expected: str
) -> None:
    route = vendor.post("/contacts").respond(422, json=body)
    with pytest.raises(PermanentError) as caught:
        await client.post("contacts", json={})
    assert route.call_count == 1
    assert caught.value.status_code == 422
    assert caught.value.vendor_message == expected
    assert expected in str(caught.value)
    assert str(caught.value).startswith(f"POST {BASE}/contacts answered 422")


async def test_long_bodies_are_truncated(vendor: respx.MockRouter, client: SpokeClient) -> None:
    html = "<html><body>" + "Not found. " * 500 + "</body></html>"
    vendor.get("/x").respond(404, html=html)
    with pytest.raises(PermanentError) as caught:
        await client.get("x")
    assert len(caught.value.vendor_message) == 200
    assert caught.value.vendor_message.endswith("…")
    assert len(str(caught.value)) < 300


async def test_redirects_are_not_followed(vendor: respx.MockRouter, client: SpokeClient) -> None:
    vendor.get("/old").respond(301, headers={"Location": "https://elsewhere.test/"})
    with pytest.raises(PermanentError, match="redirects are not followed"):
        await client.get("old")


async def test_vendor_message_with_personal_data_is_redacted(
    vendor: respx.MockRouter, client: SpokeClient
) -> None:
    vendor.post("/contacts").respond(
        400, json={"message": f"Contact {EMAIL} (+44 20 7946 0958) already exists"}
    )
    with pytest.raises(PermanentError) as caught:
        await client.post("contacts", json={"email": EMAIL})
    message = str(caught.value)
    assert EMAIL not in message and "7946" not in message
    assert "already exists" in message
    assert EMAIL not in caught.value.vendor_message


async def test_url_query_and_personal_path_are_scrubbed(
    vendor: respx.MockRouter, client: SpokeClient
) -> None:
    vendor.get(url__regex=r".*/contacts/.*").respond(404, json={"message": "no such contact"})
    with pytest.raises(PermanentError) as caught:
        await client.get(f"contacts/{EMAIL}", params={"hapikey": TOKEN, "email": EMAIL})
    message = str(caught.value)
    assert TOKEN not in message and EMAIL not in message and "ada.lovelace" not in message
    assert f"GET {BASE}/contacts/***?…" in message


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(400, text=f"bad header Authorization: Bearer {TOKEN}"),
        httpx.Response(401, json={"error": f"token {TOKEN} expired"}),
        httpx.Response(429, text=TOKEN),
        httpx.Response(500, text=f"trace: key={TOKEN}"),
        httpx.ConnectError(f"proxy refused Bearer {TOKEN}"),
    ],
)
async def test_authorization_never_appears_in_errors(
    vendor: respx.MockRouter, fake_time: FakeTime, answer: object
) -> None:
    vendor.get("/x").mock(side_effect=[answer])
    async with SpokeClient(
        BASE, auth=bearer_auth(SecretStr(TOKEN)), attempts=1, clock=fake_time.clock
    ) as client:
        with pytest.raises(SpokeError) as caught:
            await client.get("x")
    for text in (str(caught.value), repr(caught.value), caught.value.vendor_message):
        assert TOKEN not in text
        assert TOKEN[:12] not in text


async def test_retry_log_lines_hold_no_secrets(
    vendor: respx.MockRouter, client: SpokeClient, caplog: pytest.LogCaptureFixture
) -> None:
    vendor.get(url__regex=r".*/contacts/.*").mock(
        side_effect=[httpx.Response(503, text=f"{EMAIL} {TOKEN}"), httpx.Response(200)]
    )
    with caplog.at_level(logging.DEBUG, logger="spokehub_contracts.http"):
        await client.get(f"contacts/{EMAIL}", params={"token": TOKEN})
    # Only the toolkit's own lines: httpx logs raw URLs itself once logging is set to
    # INFO (the hub's log setup redacts those on their way out; see spokehub.logs).
    ours = "\n".join(r.getMessage() for r in caplog.records if r.name == "spokehub_contracts.http")
    assert "retrying" in ours and "TransientError 503" in ours
    assert TOKEN not in ours and EMAIL not in ours


async def test_from_capabilities(vendor: respx.MockRouter) -> None:
    capabilities = Capabilities(
        base_url="https://api.vendor.test/v3", rate_limit=RateLimit(requests=5)
    )
    async with SpokeClient.from_capabilities(capabilities) as client:
        assert str(client.base_url) == "https://api.vendor.test/v3/"
        assert client.rate_limiter.rate_limit == RateLimit(requests=5)
    async with SpokeClient.from_capabilities(
        capabilities, base_url="https://eu.vendor.test/v3", attempts=1
    ) as client:
        assert client.base_url.host == "eu.vendor.test"
        assert client.attempts == 1


def test_attempts_must_be_positive() -> None:
    with pytest.raises(ValueError, match="attempts"):
        SpokeClient(attempts=0)


async def test_rate_limited_client_keeps_to_its_budget_in_real_time(
    vendor: respx.MockRouter,
) -> None:
    vendor.get("/x").respond(200)
    loop = asyncio.get_running_loop()
    async with SpokeClient(BASE, rate_limit=RateLimit(requests=10, per_seconds=1.0)) as client:
        started = loop.time()
        await asyncio.gather(*(client.get("x") for _ in range(30)))
        elapsed = loop.time() - started
    # 10 at once, 10 after one second, 10 after two.
    assert 1.9 <= elapsed < 4.0


async def test_limiter_never_exceeds_the_budget(fake_time: FakeTime) -> None:
    budget = RateLimit(requests=5, per_seconds=2.0)
    limiter = RateLimiter(budget, clock=fake_time.clock, sleep=fake_time.sleep)
    granted: list[float] = []

    async def caller() -> None:
        for _ in range(4):
            await limiter.acquire()
            granted.append(fake_time.now)

    await asyncio.gather(*(caller() for _ in range(10)))
    assert len(granted) == 40
    for start in granted:
        in_window = [t for t in granted if start <= t < start + budget.per_seconds]
        assert len(in_window) <= budget.requests
    # And it does not wait more than it must: 40 grants of 5 per 2 s take 14 s.
    assert granted[-1] - granted[0] == pytest.approx(14.0)


async def test_limiter_defer_holds_everyone(fake_time: FakeTime) -> None:
    limiter = RateLimiter(None, clock=fake_time.clock, sleep=fake_time.sleep)
    await limiter.acquire()
    limiter.defer(3.0)
    await asyncio.gather(limiter.acquire(), limiter.acquire())
    assert fake_time.sleeps == [3.0]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 5 ", 5.0),
        ("1.5", 1.5),
        ("-3", 0.0),
        ("", None),
        (None, None),
        ("soon", None),
        ("nan", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


def test_parse_retry_after_date_from_a_given_now() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Thu, 01 Jan 2026 12:01:30 GMT", now=now) == 90.0


async def test_json_bodies_are_sent_as_httpx_would_and_may_hold_models(
    vendor: respx.MockRouter, client: SpokeClient
) -> None:
    import json

    from spokehub_contracts import Event, Person, TrackEvent, UpsertPerson

    route = vendor.post("/contacts").respond(200)
    plain = {"name": "Zoë", "n": [1, 2.5, None, True], "nested": {"k": "v"}}
    await client.post("contacts", json=plain)
    sent = route.calls.last.request
    assert sent.content == json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode()
    assert sent.headers["Content-Type"] == "application/json"
    assert sent.headers["Authorization"] == f"Bearer {TOKEN}"

    person = UpsertPerson(item_id="p1", contact_id="c1", person=Person(first_name="Ada"))
    track = TrackEvent(
        item_id="e1", contact_id="c1", event=Event(type="track", event="Paid", userId="u1")
    )
    batch = [person, track]
    await client.post("contacts", json={"items": batch}, headers={"content-type": "text/x"})
    sent = route.calls.last.request
    # As model_dump(mode="json") gives them: field names (user_id), not aliases (userId).
    assert json.loads(sent.content) == {"items": [c.model_dump(mode="json") for c in batch]}
    assert b'"user_id":"u1"' in sent.content
    assert sent.headers.get_list("Content-Type") == ["text/x"]


async def test_a_json_body_with_a_non_finite_number_is_refused(
    vendor: respx.MockRouter, client: SpokeClient
) -> None:
    route = vendor.post("/x").respond(200)
    await client.post("x", json={"title": "NaN and Infinity are words here"})
    assert route.calls.last.request.content == b'{"title":"NaN and Infinity are words here"}'
    with pytest.raises(ValueError):
        await client.post("x", json={"score": float("nan")})
    with pytest.raises(ValueError):
        await client.post("x", json=[float("-inf")])
    assert route.call_count == 1


async def test_a_single_attempt_fails_at_once_with_the_same_errors(
    vendor: respx.MockRouter, client: SpokeClient, fake_time: FakeTime
) -> None:
    vendor.post("/orders").respond(429, headers={"Retry-After": "2"}, json={"message": "slow"})
    with pytest.raises(Throttled) as caught:
        await client.post("orders", json={}, attempts=1)
    assert caught.value.retry_after == 2 and "slow" in str(caught.value)
    assert fake_time.sleeps == []
    vendor.post("/broken").mock(side_effect=httpx.ConnectError(f"refused for {TOKEN}"))
    with pytest.raises(TransientError) as failed:
        await client.post("broken", json={}, attempts=1)
    assert TOKEN not in str(failed.value) and "POST https://api.vendor.test/v3/broken" in str(
        failed.value
    )


def test_the_toolkit_leaves_the_interpreter_it_is_imported_into_alone() -> None:
    import subprocess
    import sys

    # A vendor's own process imports the contracts: importing them and building a client
    # must neither mark modules as missing in sys.modules nor preload the async backend
    # (that tuning is the hub's, done where the hub starts talking to vendors).
    script = (
        "import sys, spokehub_contracts as c\n"
        "c.SpokeClient('http://127.0.0.1:9')\n"
        "print([k for k, v in sys.modules.items() if v is None],"
        " 'anyio._backends._asyncio' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["[]", "False"]
