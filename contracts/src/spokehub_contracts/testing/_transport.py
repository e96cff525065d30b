"""An httpx transport that answers by script: the vendor failures a spoke must survive."""

from __future__ import annotations

import inspect
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import httpx

#: Answers a request that no fault intercepts, like ``httpx.MockTransport``'s handler.
Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]

FaultKind = Literal["throttle", "status", "timeout", "connect_error", "malformed_json", "pass"]


@dataclass(frozen=True)
class Fault:
    """One scripted answer. Build them with the class methods, or write them as strings:
    ``"429"`` (throttle, ``Retry-After: 1``), any other status such as ``"500"``,
    ``"timeout"``, ``"connect_error"``, ``"malformed_json"`` and ``"pass"``."""

    kind: FaultKind
    status: int = 200
    retry_after: str | None = None

    @classmethod
    def throttle(cls, retry_after: float | str | None = 1) -> Fault:
        """429 Too Many Requests, with ``Retry-After`` (seconds or an HTTP-date) unless None."""
        value = None if retry_after is None else str(retry_after)
        return cls("throttle", 429, value)

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

    Every request it sees, faulted or not, is kept in :attr:`requests`::

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
        message = "rate limit exceeded" if fault.kind == "throttle" else "injected failure"
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
