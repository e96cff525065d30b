"""The sandbox base: routes, the request log, scripted faults and throttling, served on
127.0.0.1, in process on a test clock, and as a process of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from spokehub_contracts import RateLimit, SpokeClient, Throttled, TransientError, bearer_auth
from spokehub_contracts.testing import (
    FakeClock,
    Fault,
    FaultInjectingTransport,
    Sandbox,
    SandboxFaults,
    SandboxRequest,
    SandboxResponse,
    intercept_clients,
    max_in_window,
    route,
)
from spokehub_contracts.testing.sandbox import sandbox_process

TOKEN = "acme-test-token"
PEOPLE = [{"id": n} for n in range(10)]


class AcmeSandbox(Sandbox):
    """A small vendor: a batch route, a paged list and a probe."""

    name = "acme"
    tokens = (TOKEN,)
    max_batch = 3

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stored: list[dict[str, Any]] = []

    def throttle_response(self, request: SandboxRequest, retry_after: float) -> SandboxResponse:
        return SandboxResponse.json(
            {"errors": [{"code": "THROTTLED", "wait": retry_after}]}, status=429
        )

    @route("GET", "/v1/me", faults=False, budget="probe")
    def me(self, request: SandboxRequest) -> SandboxResponse:
        return SandboxResponse.json({"ok": True})

    @route("POST", "/v1/lists/{list_id}/members")
    def members(self, request: SandboxRequest) -> SandboxResponse:
        items = request.json()["members"]
        if refusal := self.check_batch(request, len(items)):
            return refusal
        failed = self.partial_failures(request, len(items))
        kept = [item for n, item in enumerate(items) if n not in failed]
        self.stored.extend(kept)
        return SandboxResponse.json(
            {"list": request.params["list_id"], "accepted": len(kept), "failed": sorted(failed)}
        )

    @route("GET", "/v1/people")
    def people(self, request: SandboxRequest) -> SandboxResponse:
        page = self.paginate(request, PEOPLE, int(request.query.get("offset", 0)), 4)
        return SandboxResponse.json({"people": page.items, "next": page.next_start})


def auth() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def acme():
    with AcmeSandbox(faults=SandboxFaults(timeout_seconds=0.2, retry_after=2)) as sandbox:
        yield sandbox


def test_routes_parameters_and_the_request_log(acme: AcmeSandbox) -> None:
    assert acme.url.startswith("http://127.0.0.1:")
    with httpx.Client(base_url=acme.url, headers=auth()) as client:
        answer = client.post("/v1/lists/news/members", json={"members": [{"e": 1}, {"e": 2}]})
        assert answer.json() == {"list": "news", "accepted": 2, "failed": []}
        assert client.get("/v1/nowhere").status_code == 404
        assert client.post("/v1/me").status_code == 404  # the path exists, not the method
    [first, second, third] = acme.requests
    assert (first.method, first.route, first.status, first.items) == (
        "POST",
        "/v1/lists/{list_id}/members",
        200,
        2,
    )
    assert first.json() == {"members": [{"e": 1}, {"e": 2}]}
    assert (second.status, third.status) == (404, 404)
    assert acme.answers == {200: 1, 404: 2}


def test_credentials_and_the_vendors_batch_limit(acme: AcmeSandbox) -> None:
    with httpx.Client(base_url=acme.url) as client:
        assert client.get("/v1/me").status_code == 401
        assert client.get("/v1/me", headers={"Authorization": "Bearer nope"}).status_code == 401
        too_many = client.post("/v1/lists/news/members", json={"members": [{}] * 4}, headers=auth())
    assert too_many.status_code == 400
    assert "at most 3" in too_many.json()["message"]
    assert acme.stored == []


def test_scripted_faults_over_the_socket(acme: AcmeSandbox) -> None:
    acme.add_faults("429", Fault.vendor_throttle(5), "503", "malformed_json", "timeout")
    body = {"members": [{}]}
    with httpx.Client(base_url=acme.url, headers=auth()) as client:
        throttled = client.post("/v1/lists/a/members", json=body)
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "2")
        vendor = client.post("/v1/lists/a/members", json=body)
        assert vendor.json() == {"errors": [{"code": "THROTTLED", "wait": 5.0}]}
        assert client.post("/v1/lists/a/members", json=body).status_code == 503
        with pytest.raises(ValueError):
            client.post("/v1/lists/a/members", json=body).json()
        assert client.post("/v1/lists/a/members", json=body).status_code == 504  # held, then
        assert client.post("/v1/lists/a/members", json=body).status_code == 200
    assert acme.stored == [{}]


def test_a_dropped_connection(acme: AcmeSandbox) -> None:
    acme.add_faults("connect_error")
    with httpx.Client(base_url=acme.url, headers=auth()) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v1/people")
        assert client.get("/v1/people").status_code == 200
    assert [r.status for r in acme.requests] == [None, 200]


def test_a_partial_fault_waits_for_a_route_that_can_answer_it(acme: AcmeSandbox) -> None:
    acme.add_faults("partial")
    with httpx.Client(base_url=acme.url, headers=auth()) as client:
        assert client.get("/v1/people").status_code == 200
        answer = client.post("/v1/lists/a/members", json={"members": [{"n": n} for n in range(3)]})
    assert answer.json()["failed"] == [0]
    assert acme.requests[-1].refused == 1
    assert acme.stored == [{"n": 1}, {"n": 2}]


def test_the_rate_limit_answers_in_the_vendors_shape() -> None:
    clock = FakeClock()
    sandbox = AcmeSandbox(rate_limit=RateLimit(requests=2, per_seconds=10), clock=clock)
    transport = sandbox.transport()

    async def three() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=transport, base_url="http://acme") as client:
            return [await client.get("/v1/people", headers=auth()) for _ in range(3)]

    answers = asyncio.run(three())
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["errors"][0]["code"] == "THROTTLED"
    assert sandbox.rate_rejections == 1
    # The probe has a budget of its own that is not limited.
    assert sandbox.max_in_window(10) == 3


def test_in_process_faults_raise_what_a_client_would_see() -> None:
    sandbox = AcmeSandbox()
    sandbox.add_faults("timeout", "connect_error")

    async def run() -> None:
        async with httpx.AsyncClient(transport=sandbox.transport(), base_url="http://x") as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get("/v1/people", headers=auth())
            with pytest.raises(httpx.ConnectError):
                await c.get("/v1/people", headers=auth())
            assert (await c.get("/v1/people", headers=auth())).status_code == 200

    asyncio.run(run())


def test_a_toolkit_client_waits_out_a_throttle_on_the_test_clock() -> None:
    """The spoke's client is routed to the sandbox and its clock without being told."""
    clock = FakeClock()
    sandbox = AcmeSandbox(clock=clock)
    sandbox.add_faults(Fault.throttle(retry_after=30), "500")

    async def run() -> httpx.Response:
        client = SpokeClient("https://api.acme.example", auth=bearer_auth(SecretStr(TOKEN)))
        async with client:
            return await client.post("/v1/lists/a/members", json={"members": [{}]}, attempts=3)

    with intercept_clients(sandbox.transport(), clock=clock):
        answer = asyncio.run(run())
    assert answer.status_code == 200
    throttled, failed, delivered = sandbox.requests
    assert failed.at - throttled.at >= 30  # waited as asked, on the test clock
    assert delivered.at > failed.at
    assert clock.slept[0] == 30


def test_a_toolkit_client_outside_the_block_is_left_alone() -> None:
    client = SpokeClient("https://api.acme.example")
    assert client.rate_limiter._clock is None
    asyncio.run(client.aclose())


def test_a_declared_rate_limit_on_the_test_clock() -> None:
    clock = FakeClock()
    sandbox = AcmeSandbox(clock=clock)

    async def run() -> None:
        client = SpokeClient(
            "http://acme", auth=bearer_auth(SecretStr(TOKEN)), rate_limit=RateLimit(requests=5)
        )
        async with client:
            await asyncio.gather(*(client.get("/v1/people") for _ in range(23)))

    with intercept_clients(sandbox.transport(), clock=clock):
        asyncio.run(run())
    assert len(sandbox.requests) == 23
    assert sandbox.max_in_window(1.0) == 5
    assert max_in_window([0, 0.5, 0.99, 1.0, 1.5], 1.0) == 3


def test_pages_served_twice_or_reordered() -> None:
    sandbox = AcmeSandbox()

    def read_all() -> list[int]:
        seen, offset = [], 0
        while offset is not None:
            request = SandboxRequest("GET", "/v1/people", query={"offset": str(offset)})
            page = sandbox.paginate(request, PEOPLE, offset, 4)
            seen.extend(p["id"] for p in page.items)
            offset = page.next_start
        return seen

    assert read_all() == list(range(10))
    sandbox.alter_page("duplicate", call=2)
    assert read_all() == [0, 1, 2, 3, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9]
    sandbox.alter_page("reorder", call=1)
    assert read_all() == [3, 2, 1, 0, 4, 5, 6, 7, 8, 9]
    assert sandbox.altered_pages == 2


def test_webhooks_are_signed_as_the_vendor_signs_them() -> None:
    class Shop(Sandbox):
        def example_webhook(self) -> tuple[bytes, dict[str, str]]:
            return b'{"id": 1}', {"X-Topic": "orders/create"}

    request = Shop().webhook_request("s3cret", timestamp=1_700_000_000)
    assert request.body == b'{"id": 1}'
    assert request.headers["X-Topic"] == "orders/create"
    assert request.headers["X-Timestamp"] == "1700000000"
    # printf "1700000000.{\"id\": 1}" | openssl dgst -sha256 -hmac s3cret -binary | base64
    assert request.headers["X-Signature"] == "FwotoFNRDIs5FPxCvoimgF8b02KobblgCMo36nRzVZk="
    with pytest.raises(NotImplementedError, match="must implement example_webhook"):
        Sandbox().webhook_request("s3cret")


def test_a_fault_injecting_transport_hands_partial_faults_to_a_sandbox() -> None:
    sandbox = AcmeSandbox()
    transport = FaultInjectingTransport(sandbox.transport(), ["partial"])

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(transport=transport, base_url="http://x") as c:
            body = {"members": [{"n": n} for n in range(2)]}
            return (await c.post("/v1/lists/a/members", json=body, headers=auth())).json()

    assert asyncio.run(run())["failed"] == [0]


def test_the_toolkit_classifies_the_sandboxs_faults() -> None:
    clock = FakeClock()
    sandbox = AcmeSandbox(clock=clock)
    sandbox.add_faults(*["503"] * 3, Fault.throttle(retry_after=120))

    async def post() -> httpx.Response:
        async with SpokeClient("http://acme", auth=bearer_auth(SecretStr(TOKEN))) as client:
            return await client.post("/v1/lists/a/members", json={"members": []})

    with intercept_clients(sandbox.transport(), clock=clock):
        with pytest.raises(TransientError):
            asyncio.run(post())
        with pytest.raises(Throttled):
            asyncio.run(post())


def test_stop_closes_open_connections() -> None:
    sandbox = AcmeSandbox(faults=SandboxFaults(latency=30))
    sandbox.start()
    with httpx.Client(base_url=sandbox.url, headers=auth(), timeout=30) as client:
        import threading

        outcome: list[BaseException | httpx.Response] = []

        def call() -> None:
            try:
                outcome.append(client.get("/v1/people"))
            except httpx.HTTPError as exc:
                outcome.append(exc)

        thread = threading.Thread(target=call)
        thread.start()
        while not sandbox.requests:
            thread.join(0.01)
        sandbox.stop()
        thread.join(10)
    assert not thread.is_alive()
    with pytest.raises(RuntimeError, match="not serving"):
        _ = sandbox.url


def test_python_dash_m_serves_until_stdin_closes() -> None:
    spec = f"{__name__}:AcmeSandbox"
    with sandbox_process(
        "spokehub_contracts.testing.sandbox", spec, "--rate", "5", cwd=str(Path(__file__).parent)
    ) as url:
        assert httpx.get(f"{url}/v1/me", headers=auth()).json() == {"ok": True}
        stats = httpx.get(f"{url}/_sandbox/stats").json()
        assert stats["requests"] == 1
