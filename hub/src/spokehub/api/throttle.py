"""Authentication failures: counted by route class, logged without the credential, and
limited per client address.

Every route that checks a credential first asks :meth:`AuthGuard.check` whether the
client's address may still try; an address that failed too often is answered 429 with
``Retry-After`` before its credential (or body) is looked at. Each 401 the API answers
is then recorded by :func:`auth_failed`. The limit is a token bucket per address
(``server.auth_failures``): ``burst`` failures at once, refilled at ``per_minute``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Coroutine, Sequence
from ipaddress import IPv4Network, IPv6Network, ip_address
from typing import Any

from fastapi import HTTPException, Request

from ..config import ServerSettings
from ..logs import get_logger
from .metrics import Metrics

log = get_logger("spokehub.auth")

#: The classes of route a failure is counted under.
ROUTE_CLASSES = ("ingestion", "webhooks", "admin")
#: Where a checked request keeps its route class, for the 401 that may follow.
_ROUTE_CLASS = "spokehub.auth_route"
#: Header values longer than this are not addresses; they are cut before being kept.
_MAX_ADDRESS = 64


def client_address(
    peer: str | None, forwarded_for: str | None, trusted: Sequence[IPv4Network | IPv6Network]
) -> str:
    """The client a request comes from.

    ``X-Forwarded-For`` is believed only when the peer is a trusted proxy: the list is
    read from the right (the hop nearest to us), trusted proxies skipped, and the first
    other entry is the client. From anyone else the header is ignored, so a client cannot
    choose the address it is limited under.
    """
    peer = peer or "unknown"
    if not forwarded_for or not _trusted(peer, trusted):
        return peer
    hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
    for hop in reversed(hops):
        if not _trusted(hop, trusted):
            return hop[:_MAX_ADDRESS]
    return hops[0][:_MAX_ADDRESS] if hops else peer


def _trusted(address: str, trusted: Sequence[IPv4Network | IPv6Network]) -> bool:
    if not trusted:
        return False
    try:
        ip = ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted)


class FailureBuckets:
    """A token bucket of failures per address, at most ``max_addresses`` of them (the
    addresses that failed longest ago, whose buckets are the fullest, go first).

    :param clock: seconds, monotonic (injected by tests).
    """

    def __init__(
        self,
        burst: int,
        per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_addresses: int = 100_000,
    ) -> None:
        self.burst = float(burst)
        self.per_second = per_second
        self.clock = clock
        self.max_addresses = max_addresses
        # address -> (tokens, when they were counted); insertion order is failure order.
        self._buckets: dict[str, tuple[float, float]] = {}

    def _tokens(self, address: str, now: float) -> float:
        tokens, since = self._buckets.get(address, (self.burst, now))
        return min(self.burst, tokens + (now - since) * self.per_second)

    def wait(self, address: str) -> float:
        """Seconds before ``address`` may try again; 0 when it may now."""
        if address not in self._buckets:
            return 0.0
        tokens = self._tokens(address, self.clock())
        return 0.0 if tokens >= 1 else (1 - tokens) / self.per_second

    def fail(self, address: str) -> None:
        """Take one token from ``address``'s bucket (requests that passed the check
        together and all failed may take it below zero: a longer wait)."""
        now = self.clock()
        tokens = self._tokens(address, now) - 1
        self._buckets.pop(address, None)
        self._buckets[address] = (max(tokens, -self.burst), now)
        if len(self._buckets) > self.max_addresses:
            del self._buckets[next(iter(self._buckets))]


class AuthGuard:
    """The failure limit and counters of one app (see :func:`guard_of`).

    :param metrics: where failures and refusals are counted; ``None`` counts nothing.
    """

    def __init__(self, server: ServerSettings, metrics: Metrics | None) -> None:
        self.trusted = list(server.trusted_proxies)
        self.buckets = FailureBuckets(
            server.auth_failures.burst, server.auth_failures.per_minute / 60.0
        )
        self.failures = metrics.auth_failures if metrics is not None else None
        self.throttled = metrics.auth_throttled if metrics is not None else None

    def address(self, request: Request) -> str:
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.get("x-forwarded-for"), self.trusted)

    def check(self, request: Request, route_class: str) -> None:
        """Refuse (429) a client that failed too often, before anything else is read."""
        request.scope[_ROUTE_CLASS] = route_class
        wait = self.buckets.wait(self.address(request))
        if wait > 0:
            if self.throttled is not None:
                self.throttled.labels(route_class).inc()
            seconds = max(1, math.ceil(wait))
            raise HTTPException(
                429,
                f"too many failed authentications from this address; retry in {seconds} s",
                # analytics.js waits for X-RateLimit-Reset (seconds) on a 429.
                headers={"Retry-After": str(seconds), "X-RateLimit-Reset": str(seconds)},
            )

    def failed(self, request: Request, reason: str) -> None:
        route_class = request.scope.get(_ROUTE_CLASS, "other")
        address = self.address(request)
        self.buckets.fail(address)
        if self.failures is not None:
            self.failures.labels(route_class).inc()
        # One line, never the credential: the route, the reason, who tried.
        log.warning("authentication failed", route=route_class, reason=reason, client=address)


def guard_of(app: Any) -> AuthGuard:
    """``app``'s guard, made on first use from ``app.state.project`` and the app's
    metrics, so every app that mounts a checking router is limited, however built."""
    guard: AuthGuard | None = getattr(app.state, "auth_guard", None)
    if guard is None:
        metrics = getattr(app.state, "metrics", None)
        guard = app.state.auth_guard = AuthGuard(app.state.project.server, metrics)
    return guard


def auth_check(route_class: str) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A FastAPI dependency that runs :meth:`AuthGuard.check` for ``route_class`` (on the
    event loop, where every use of the guard runs)."""

    async def check(request: Request) -> None:
        guard_of(request.app).check(request, route_class)

    return check


def auth_failed(request: Request, reason: str) -> None:
    """Record a 401 answered to ``request`` (called by the error handlers)."""
    guard_of(request.app).failed(request, reason)
