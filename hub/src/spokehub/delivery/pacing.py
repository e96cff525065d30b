"""The lane's pace: how often it may call the destination, and when it must hold back.

Where the rate limit lives: the toolkit's ``SpokeClient`` keeps every HTTP *request* of a
spoke within its declared budget (it sees retries and multi-request writes). The lane
keeps its *calls* to ``write()`` within the same declared ``capabilities.rate_limit``
here, and nowhere else in the hub. For the common spoke that sends one request per
``write()`` the two budgets coincide, so the client never waits; the lane's pacing
matters because a lane that claimed faster than it may send would hold leased rows in
memory, and a spoke not built on the toolkit is still kept to its budget.

It also carries the lane-wide holds: a ``Throttled`` answer or repeated transient
failures hold every call of the lane back, while other lanes go on.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable

from spokehub_contracts import RateLimit

# Calls are spaced a hair wider than the budget: the vendor measures arrivals, and the
# network may bunch up calls that left evenly (a first call on a cold connection arrives
# later than the ones after it).
_SAFETY = 1.01
_SLACK = 0.015


class Pacer:
    """At most ``rate_limit.requests`` call starts in any ``per_seconds`` window, and
    none before the latest :meth:`hold` has passed."""

    def __init__(
        self, rate_limit: RateLimit | None, clock: Callable[[], float] | None = None
    ) -> None:
        self.rate_limit = rate_limit
        self._clock = clock
        self._starts: deque[float] = deque()
        self._resume_at = 0.0
        self._lock = asyncio.Lock()

    def now(self) -> float:
        return self._clock() if self._clock else asyncio.get_running_loop().time()

    def hold(self, seconds: float) -> None:
        """Let no call start for ``seconds`` from now (never shortens an earlier hold)."""
        self._resume_at = max(self._resume_at, self.now() + max(0.0, seconds))

    def held_for(self) -> float:
        """Seconds until the current hold ends (0 when none)."""
        return max(0.0, self._resume_at - self.now())

    async def acquire(self, stop: asyncio.Event | None = None) -> bool:
        """Wait for the next allowed start and count it; ``False`` if ``stop`` was set
        while waiting (the start is then not counted)."""
        async with self._lock:
            while True:
                now = self.now()
                wait = self._resume_at - now
                if self.rate_limit is not None:
                    window = self.rate_limit.per_seconds * _SAFETY + _SLACK
                    while self._starts and self._starts[0] <= now - window:
                        self._starts.popleft()
                    if len(self._starts) >= self.rate_limit.requests:
                        wait = max(wait, self._starts[0] + window - now)
                if wait <= 0:
                    break
                if stop is None:
                    await asyncio.sleep(wait)
                elif await wait_or_stop(stop, wait):
                    return False
            self._starts.append(now)
            return True


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; ``True`` if ``stop`` was set (at once or meanwhile)."""
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True
