"""A test clock, and routing every toolkit client of a block to a sandbox on that clock."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from .._http import CLIENT_DEFAULTS, ClientDefaults


class FakeClock:
    """Monotonic time that moves only when someone sleeps on it.

    Pass ``clock`` as a ``SpokeClient``'s (or ``RateLimiter``'s) clock and :meth:`sleep`
    as its sleep, and a sandbox the same ``clock``: waits for ``Retry-After`` or the rate
    budget then cost no wall time, and the request log shows when each request would have
    been sent. Sleeps are kept in :attr:`slept`.
    """

    def __init__(self, start: float = 1_000.0) -> None:
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds`` without sleeping."""
        self.now += max(0.0, seconds)

    async def sleep(self, seconds: float) -> None:
        """Let ``seconds`` pass at once, and give other tasks their turn."""
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)


@contextmanager
def intercept_clients(
    transport: httpx.AsyncBaseTransport | None = None,
    *,
    clock: FakeClock | None = None,
) -> Iterator[None]:
    """Inside the block, every ``SpokeClient`` built without a transport of its own sends
    through ``transport`` (e.g. :meth:`Sandbox.transport`), and every one built without a
    clock keeps its rate limit and waits its retries on ``clock``::

        clock = FakeClock()
        with AcmeSandbox(clock=clock) as acme, intercept_clients(acme.transport(), clock=clock):
            asyncio.run(spoke_cls(config).write(batch))

    The spoke needs no change: this is how the conformance suite reaches the spoke's client.
    Context variables follow ``asyncio.run`` and tasks, not other threads.
    """
    defaults = ClientDefaults(
        transport=transport,
        clock=clock,
        sleep=clock.sleep if clock is not None else None,
    )
    token = CLIENT_DEFAULTS.set(defaults)
    try:
        yield
    finally:
        CLIENT_DEFAULTS.reset(token)
