"""An httpx transport that answers by script: the vendor failures a spoke must survive."""

from __future__ import annotations

import asyncio
import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import httpx

#: Answers a request that no fault intercepts, like ``httpx.MockTransport``'s handler.
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]

FaultKind = Literal[
    "throttle",
    "vendor_throttle",
    "status",
    "timeout",
    "connect_error",
    "malformed_json",
    "partial",
    "slow",
    "pass",
]

#: The request extension under which a fault the transport cannot apply itself (``partial``)
#: is handed to the handler, e.g. a :class:`~spokehub_contracts.testing.Sandbox` transport.
FAULT_EXTENSION = "spokehub_fault"


@dataclass(frozen=True)
class Fault:
    """One scripted answer. Build them with the class methods, or write them as strings:
    ``"429"`` (throttle, ``Retry-After: 1``), any other status such as ``"500"``,
    ``"vendor_throttle"``, ``"timeout"``, ``"connect_error"``, ``"malformed_json"``,
    ``"partial"``, ``"slow"`` and ``"pass"``."""

    kind: FaultKind
    status: int = 200
    retry_after: str | None = None
    seconds: float | None = None

    @classmethod
    def throttle(cls, retry_after: float | str | None = 1) -> Fault:
        """429 Too Many Requests, with ``Retry-After`` (seconds or an HTTP-date) unless None."""
        value = None if retry_after is None else str(retry_after)
        return cls("throttle", 429, value)

    @classmethod
    def vendor_throttle(cls, retry_after: float = 1) -> Fault:
        """The vendor's own throttle answer, waiting ``retry_after`` seconds. A sandbox
        answers it in its vendor's shape (:meth:`Sandbox.throttle_response`); a bare
        transport, which knows no vendor, answers a plain 429."""
        return cls("vendor_throttle", 429, str(retry_after))

    @classmethod
    def error(cls, status: int = 500) -> Fault:
        """An error status with a JSON ``message`` body (500, 503, 401, 400, …)."""
        return cls("status", status)

    @classmethod
    def timeout(cls) -> Fault:
        """The response never arrives: ``httpx.ReadTimeout``."""
        return cls("timeout")

    @classmethod
    def connect_error(cls) -> Fault:
        """The vendor cannot be reached: ``httpx.ConnectError``."""
        return cls("connect_error")

    @classmethod
    def malformed_json(cls) -> Fault:
        """200 OK with a JSON content type and a truncated JSON body."""
        return cls("malformed_json")

    @classmethod
    def partial(cls) -> Fault:
        """The vendor accepts the request but refuses some of its items. Only a handler
        that knows the vendor's answer can apply it: a sandbox's batch route does (see
        :meth:`Sandbox.partial_failures`)."""
        return cls("partial")

    @classmethod
    def slow(cls, seconds: float | None = None) -> Fault:
        """The answer comes ``seconds`` late (a sandbox's ``slow_seconds`` by default)."""
        return cls("slow", seconds=seconds)

    @classmethod
    def passthrough(cls) -> Fault:
        """Hand this request to the handler."""
        return cls("pass")

    @classmethod
    def parse(cls, text: str) -> Fault:
        """Read the string form (``"429"``, ``"503"``, ``"timeout"``, …)."""
        named = {
            "throttle": cls.throttle,
            "timeout": cls.timeout,
            "connect_error": cls.connect_error,
            "malformed_json": cls.malformed_json,
            "vendor_throttle": cls.vendor_throttle,
            "partial": cls.partial,
            "slow": cls.slow,
            "pass": cls.passthrough,
        }
        if text in named:
            return named[text]()
        if text.isdigit() and len(text) == 3:
            return cls.throttle() if text == "429" else cls.error(int(text))
        raise ValueError(
            f"unknown fault {text!r}: use a status such as '500' or one of {sorted(named)}"
        )


def _ok(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={})


class FaultInjectingTransport(httpx.AsyncBaseTransport):
    """Answers requests by ``script``, one fault per request in order, then passes every
    further request to ``handler`` (a function like ``httpx.MockTransport``'s, sync or
    async, or another transport; by default ``200 {}``).

    A ``partial`` fault is handed to the handler with the request (in
    ``request.extensions["spokehub_fault"]``), since only the vendor's answer can say
    which items failed. Every request it sees, faulted or not, is kept in
    :attr:`requests`::

        transport = FaultInjectingTransport(vendor_api, ["429", "500", "timeout"])
        client = SpokeClient("https://api.example.com", transport=transport, attempts=4)
    """

    def __init__(
        self,
        handler: Handler | httpx.AsyncBaseTransport | None = None,
        script: Iterable[Fault | str] = (),
    ) -> None:
        self._handler = handler or _ok
        self._script: deque[Fault] = deque()
        self.requests: list[httpx.Request] = []
        self.add(*script)

    def add(self, *faults: Fault | str) -> None:
        """Append faults to the script."""
        self._script.extend(f if isinstance(f, Fault) else Fault.parse(f) for f in faults)

    @property
    def pending(self) -> int:
        """Scripted faults not yet used."""
        return len(self._script)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        fault = self._script.popleft() if self._script else Fault.passthrough()
        if fault.kind == "slow":
            await asyncio.sleep(fault.seconds or 0.0)
            fault = Fault.passthrough()
        if fault.kind == "partial":
            request.extensions[FAULT_EXTENSION] = fault
            return await self._pass(request)
        if fault.kind == "pass":
            return await self._pass(request)
        if fault.kind == "timeout":
            raise httpx.ReadTimeout("read timed out (injected)", request=request)
        if fault.kind == "connect_error":
            raise httpx.ConnectError("connection refused (injected)", request=request)
        if fault.kind == "malformed_json":
            return httpx.Response(
                200, headers={"Content-Type": "application/json"}, content=b'{"id": "1", "ok'
            )
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        throttled = fault.kind in ("throttle", "vendor_throttle")
        message = "rate limit exceeded" if throttled else "injected failure"
        return httpx.Response(fault.status, headers=headers, json={"message": message})

    async def _pass(self, request: httpx.Request) -> httpx.Response:
        if isinstance(self._handler, httpx.AsyncBaseTransport):
            return await self._handler.handle_async_request(request)
        response = self._handler(request)
        if inspect.isawaitable(response):
            response = await response
        return response

    async def aclose(self) -> None:
        if isinstance(self._handler, httpx.AsyncBaseTransport):
            await self._handler.aclose()
