"""A fake vendor API on 127.0.0.1 for delivery tests and the benchmark.

``POST /batch`` takes ``{"items": [change, ...]}`` and answers ``{"results": [...]}``
with one ``{"item_id", "ok", "id" | "retryable", "message"}`` per item, like many
marketing APIs' batch endpoints. ``GET /check`` answers 200 or 401 like a credentials
probe. Faults are injected per request, from a script (tests that need an exact order)
or at random with fixed odds (soak tests):

- ``latency`` (every request) and ``slow`` (one request, ``slow_seconds``);
- ``429`` with ``Retry-After``; ``500``; ``401``;
- ``timeout``: no answer until the client gives up; the batch is not applied;
- ``malformed``: a 200 whose body is not JSON, as a broken proxy sends; not applied;
- ``partial``: every third item fails (alternately retryable and rejected for good).

An item is *accepted* when the vendor applied it and answered; ``accepted`` counts how
often each item id was, so a test can prove nothing was delivered twice. With
``rate_limit`` the server answers 429 to requests beyond the budget; ``arrivals`` keeps
every request's arrival time so a test can measure the rate it really saw.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

FAULTS = ("429", "500", "401", "timeout", "malformed", "partial", "slow")


@dataclass
class Faults:
    latency: float = 0.0
    script: deque[str] = field(default_factory=deque)
    odds: dict[str, float] = field(default_factory=dict)
    retry_after: float = 0.2
    slow_seconds: float = 10.0
    timeout_seconds: float = 3.0
    seed: int = 7
    auth_ok: bool = True


class FakeVendor:
    """The server, run in a thread of its own so a test's event loop never slows it."""

    def __init__(
        self, *, rate_limit: tuple[int, float] | None = None, faults: Faults | None = None
    ) -> None:
        self.rate_limit = rate_limit
        self.faults = faults or Faults()
        self._rng = random.Random(self.faults.seed)
        self.arrivals: list[float] = []
        self.answers: Counter[int] = Counter()
        self.accepted: Counter[str] = Counter()
        self.accepted_at: dict[str, float] = {}
        self.rate_rejections = 0
        self.batches: list[list[dict[str, Any]]] = []
        self._window: deque[float] = deque()
        self._lock = threading.Lock()
        self.app = Starlette(
            routes=[
                Route("/batch", self._batch, methods=["POST"]),
                Route("/check", self._check, methods=["GET"]),
                Route("/stats", self._stats, methods=["GET"]),
                Route("/warmup", self._warmup, methods=["POST"]),
            ]
        )
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- lifecycle -------------------------------------------------------------------

    def start(self) -> FakeVendor:
        sock = socket.socket()
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", lifespan="off", access_log=False, backlog=512
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("fake vendor did not start")
            time.sleep(0.01)
        # A real vendor is warm before anyone calls it: take the path of a batch once
        # (reading a JSON body, checking for a disconnect), outside every count, so the
        # server's own first-request work (lazy imports) does not land on a client's call.
        with httpx.Client(base_url=self.url, timeout=30) as client:
            client.post("/warmup", json={"items": []}).raise_for_status()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)

    # -- measurements ----------------------------------------------------------------

    def max_in_window(self, seconds: float = 1.0, after: float = 0.0) -> int:
        """Most requests that arrived within any ``seconds`` window (after ``after``)."""
        times = sorted(t for t in self.arrivals if t >= after)
        best = start = 0
        for end, t in enumerate(times):
            while t - times[start] >= seconds:
                start += 1
            best = max(best, end - start + 1)
        return best

    # -- handlers --------------------------------------------------------------------

    def _next_fault(self) -> str | None:
        with self._lock:
            if self.faults.script:
                fault = self.faults.script.popleft()
                return None if fault == "ok" else fault
            for name, odds in self.faults.odds.items():
                if self._rng.random() < odds:
                    return name
        return None

    def _over_budget(self, now: float) -> float | None:
        if self.rate_limit is None:
            return None
        requests, per = self.rate_limit
        with self._lock:
            while self._window and self._window[0] <= now - per:
                self._window.popleft()
            if len(self._window) >= requests:
                self.rate_rejections += 1
                return self._window[0] + per - now
            self._window.append(now)
        return None

    async def _stats(self, request: Request) -> Response:
        """What the vendor saw, for a caller in another process (the benchmark)."""
        with self._lock:
            return JSONResponse(
                {
                    "arrivals": list(self.arrivals),
                    "answers": {str(k): v for k, v in self.answers.items()},
                    "rate_rejections": self.rate_rejections,
                    "accepted": sum(self.accepted.values()),
                    "duplicates": sum(n - 1 for n in self.accepted.values() if n > 1),
                    "max_in_window": self.max_in_window(self.rate_limit[1])
                    if self.rate_limit
                    else None,
                }
            )

    async def _warmup(self, request: Request) -> Response:
        await request.json()
        await request.is_disconnected()
        return JSONResponse({"results": []})

    async def _check(self, request: Request) -> Response:
        if not self.faults.auth_ok:
            return JSONResponse({"message": "invalid api key"}, status_code=401)
        return JSONResponse({"ok": True})

    async def _batch(self, request: Request) -> Response:
        now = time.monotonic()
        with self._lock:
            self.arrivals.append(now)
        response = await self._answer(request, now)
        with self._lock:
            self.answers[response.status_code] += 1
        return response

    async def _answer(self, request: Request, now: float) -> Response:
        wait = self._over_budget(now)
        if wait is not None:
            return JSONResponse(
                {"message": "rate limit exceeded"},
                status_code=429,
                headers={"Retry-After": f"{max(wait, 0.01):.3f}"},
            )
        if not self.faults.auth_ok:
            return JSONResponse({"message": "invalid api key"}, status_code=401)
        fault = self._next_fault()
        body = await request.json()
        items: list[dict[str, Any]] = body["items"]
        delay = self.faults.latency + (self.faults.slow_seconds if fault == "slow" else 0.0)
        if delay:
            await asyncio.sleep(delay)
        if fault == "timeout":
            await asyncio.sleep(self.faults.timeout_seconds)
            return JSONResponse({"message": "gateway timeout"}, status_code=504)
        if fault == "429":
            return JSONResponse(
                {"message": "slow down"},
                status_code=429,
                headers={"Retry-After": f"{self.faults.retry_after:g}"},
            )
        if fault == "500":
            return JSONResponse({"message": "internal error"}, status_code=500)
        if fault == "401":
            return JSONResponse({"message": "invalid api key"}, status_code=401)
        if fault == "malformed":
            return Response(b'{"results": [{"item_id": ', media_type="application/json")
        if await request.is_disconnected():
            return Response(status_code=499)  # the client gave up: nothing applied
        results = []
        with self._lock:
            self.batches.append(items)
            for index, item in enumerate(items):
                item_id = item["item_id"]
                if fault == "partial" and index % 3 == 0:
                    retryable = (index // 3) % 2 == 0
                    results.append(
                        {
                            "item_id": item_id,
                            "ok": False,
                            "retryable": retryable,
                            "message": "busy, try again" if retryable else "invalid field",
                        }
                    )
                    continue
                self.accepted[item_id] += 1
                self.accepted_at.setdefault(item_id, time.monotonic())
                results.append({"item_id": item_id, "ok": True, "id": f"ext-{item_id}"})
        return JSONResponse({"results": results})


def run_vendor(**kwargs: Any) -> FakeVendor:
    """Start a fake vendor; stop it with :meth:`FakeVendor.stop`."""
    return FakeVendor(**kwargs).start()


def main() -> None:
    """Serve a fake vendor in a process of its own: prints its port, then serves until
    stdin closes (so it never outlives the process that started it)."""
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="fake vendor on 127.0.0.1")
    parser.add_argument("--rate", type=int, help="requests allowed per window")
    parser.add_argument("--per", type=float, default=1.0, help="window length in seconds")
    args = parser.parse_args()
    vendor = FakeVendor(rate_limit=(args.rate, args.per) if args.rate else None).start()
    print(vendor.port, flush=True)
    try:
        sys.stdin.read()
    finally:
        vendor.stop()


if __name__ == "__main__":
    main()
