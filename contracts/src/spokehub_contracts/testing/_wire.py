"""What passes between a client and a sandbox: the request a route sees and the answer it
gives, and the two ways a request can go unanswered."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._transport import Fault


class SandboxRequest:
    """One request as a route sees it, and as the log keeps it.

    :ivar method: upper case (``POST``).
    :ivar path: the URL path, without the query.
    :ivar query: query parameters, the last value of each name.
    :ivar headers: case-insensitive.
    :ivar body: the raw body.
    :ivar params: the route's path parameters.
    :ivar at: arrival time on the sandbox's clock.
    :ivar fault: the fault this request drew, if any.
    :ivar status: the status answered (``None`` when no answer was given).
    :ivar items: how many items the request carried, as its route counted them
        (:meth:`Sandbox.check_batch`).
    :ivar refused: how many of them the route refused (:meth:`Sandbox.partial_failures`).
    """

    def __init__(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | httpx.Headers | None = None,
        body: bytes = b"",
        at: float = 0.0,
        client_gone: Callable[[], bool] | None = None,
    ) -> None:
        self.method = method.upper()
        self.path = path
        self.query: dict[str, str] = dict(query or {})
        self.headers = httpx.Headers(headers)
        self.body = body
        self.params: dict[str, str] = {}
        self.at = at
        self.fault: Fault | None = None
        self.status: int | None = None
        self.items: int | None = None
        self.refused: int | None = None
        self.route: str | None = None
        self._client_gone = client_gone

    def json(self) -> Any:
        """The body as JSON. A body that is not JSON raises ``ValueError``."""
        return json.loads(self.body or b"null")

    def client_gone(self) -> bool:
        """True if the client closed the connection while the request was held (it gave
        up): a vendor applies nothing then."""
        return self._client_gone() if self._client_gone is not None else False

    def __repr__(self) -> str:
        return f"<SandboxRequest {self.method} {self.path} -> {self.status}>"


@dataclass
class SandboxResponse:
    """What a route answers. Build it with :meth:`json`, :meth:`text` or :meth:`empty`."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def json(
        cls, data: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> SandboxResponse:
        body = json.dumps(data, separators=(",", ":")).encode("utf-8")
        return cls(status, body, {"Content-Type": "application/json", **(headers or {})})

    @classmethod
    def text(
        cls, text: str, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> SandboxResponse:
        body = text.encode("utf-8")
        return cls(status, body, {"Content-Type": "text/plain; charset=utf-8", **(headers or {})})

    @classmethod
    def empty(cls, status: int = 204, headers: Mapping[str, str] | None = None) -> SandboxResponse:
        return cls(status, b"", dict(headers or {}))


class Held(Exception):
    """The request is held until the client gives up."""


class Dropped(Exception):
    """The connection is closed without an answer."""
