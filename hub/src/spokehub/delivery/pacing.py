"""The lane's pace: how often it may call the destination, and when it must hold back.

Where the rate limit lives: the toolkit's ``SpokeClient`` keeps every HTTP *request* of a
spoke within its declared budget (it sees retries and multi-request writes). The lane
keeps its *calls* to ``write()`` within the same declared ``capabilities.rate_limit``
here, and nowhere else in the hub. For the common spoke that sends one request per
``write()`` the two budgets coincide, so the client never waits; the lane's pacing
matters because a lane that claimed faster than it may send would hold leased rows in
memory, and a spoke not built on the toolkit is still kept to its budget.

The budget is a sliding window, as vendors count it: at most ``requests`` calls in any
``per_seconds``. A call made through :meth:`Pacer.call` takes its slot when it starts
and gives it back ``per_seconds`` after it *ended*. The vendor counts a request at some
moment between the two, so however the network or a busy event loop bunches requests
up on the way, no window the vendor measures can hold more than the budget, and no
guessed safety margin is needed: the only cost is one call's round trip per window.

It also carries the lane-wide holds: a ``Throttled`` answer or repeated transient
failures hold every call of the lane back, while other lanes go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable

from spokehub_contracts import RateLimit

# Clock readings of two processes may differ in their last digits; this keeps a slot's
# return strictly after the vendor's window has moved past the call.
_EPSILON = 0.001
# How often to look again when every slot is held by a call still under way.
_POLL = 0.005


class Pacer:
    """At most ``rate_limit.requests`` calls in any ``per_seconds`` window, and none
    started before the latest :meth:`hold` has passed."""

    def __init__(
        self, rate_limit: RateLimit | None, clock: Callable[[], float] | None = None
    ) -> None:
        self.rate_limit = rate_limit
        self._clock = clock
        # One entry per slot taken: the moment it counts from (``inf`` while its call is
        # still under way).
        self._slots: list[float] = []
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
        """Wait for the next allowed start and count it from now; ``False`` if ``stop``
        was set while waiting (the start is then not counted)."""
        return await self._take(stop, pending=False) is not None

    @contextlib.asynccontextmanager
    async def call(self) -> AsyncIterator[None]:
        """Wait for a slot and hold it for the call made inside the block; the slot
        counts from the moment the block is left."""
        await self._take(None, pending=True)
        try:
            yield
        finally:
            self._end()

    async def _take(self, stop: asyncio.Event | None, *, pending: bool) -> float | None:
        async with self._lock:
            while True:
                now = self.now()
                wait = self._resume_at - now
                if self.rate_limit is not None:
                    window = self.rate_limit.per_seconds + _EPSILON
                    self._slots = [t for t in self._slots if t > now - window]
                    if len(self._slots) >= self.rate_limit.requests:
                        # Full: wait for the first slot to come back (an unfinished call's
                        # slot comes back only once it ends; a later call wakes us).
                        first = min(self._slots)
                        wait = max(wait, _POLL if math.isinf(first) else first + window - now)
                if wait <= 0:
                    break
                if stop is None:
                    await asyncio.sleep(wait)
                elif await wait_or_stop(stop, wait):
                    return None
            token = math.inf if pending else now
            if self.rate_limit is not None:
                self._slots.append(token)
            return now

    def _end(self) -> None:
        if self.rate_limit is None:
            return
        with contextlib.suppress(ValueError):
            self._slots[self._slots.index(math.inf)] = self.now()


async def wait_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to ``seconds``; ``True`` if ``stop`` was set (at once or meanwhile)."""
    if stop.is_set():
        return True
    try:
        await asyncio.wait_for(stop.wait(), timeout=max(0.0, seconds))
    except TimeoutError:
        return False
    return True
