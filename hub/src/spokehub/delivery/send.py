"""Calling the destination: pacing, timing, splitting a refused batch, and turning every
answer or failure into a per-item verdict.

A batch the vendor refuses as a whole with ``PermanentError`` is split in halves and
sent again until the one bad item is found, so one malformed change cannot take 99 good
ones to the dead letters. ``AuthError`` and ``Throttled`` stop the splitting: they
concern the connection, not an item.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from spokehub.store.driver_sql import utcnow
from spokehub_contracts import (
    AuthError,
    Change,
    Delivered,
    Outcome,
    PermanentError,
    Rejected,
    RetryAfter,
    SpokeError,
    Throttled,
    TransientError,
)

from .pacing import Pacer
from .record import CallLog
from .state import clean

#: What became of one item: the destination's outcome, or the failure of its call.
Answer = Outcome | BaseException

Operation = Callable[[Sequence[Change]], Awaitable[Sequence[Outcome]]]


@dataclass
class Sender:
    """Sends items through ``pacer`` with ``timeout`` per call, logging each call."""

    pacer: Pacer
    timeout: float
    calls: list[CallLog] = field(default_factory=list)

    async def send(self, items: Sequence[Change], operation: Operation) -> dict[str, Answer]:
        """One answer per item id; items the destination did not answer are absent."""
        started = utcnow()
        t0 = time.perf_counter()
        try:
            async with self.pacer.call():
                started = utcnow()
                t0 = time.perf_counter()
                async with asyncio.timeout(self.timeout):
                    outcomes = await operation(items)
        except PermanentError as exc:
            self._log(started, t0, items, "permanent", error=summary(exc))
            if len(items) == 1:
                return {items[0].item_id: exc}
            middle = len(items) // 2
            first = await self.send(items[:middle], operation)
            if _connection_failure(first):
                failure = next(a for a in first.values() if _is_connection_failure(a))
                return first | {i.item_id: failure for i in items[middle:]}
            return first | await self.send(items[middle:], operation)
        except TimeoutError:
            exc = TransientError(f"the destination did not answer within {self.timeout:g}s")
            self._log(started, t0, items, "transient", error=str(exc))
            return {i.item_id: exc for i in items}
        except AuthError as exc:
            self._log(started, t0, items, "auth", error=summary(exc))
            return {i.item_id: exc for i in items}
        except Throttled as exc:
            self._log(started, t0, items, "throttled", error=summary(exc))
            return {i.item_id: exc for i in items}
        except Exception as exc:  # TransientError, or a bug in the spoke: retry either way
            kind = "transient" if isinstance(exc, TransientError) else "error"
            self._log(started, t0, items, kind, error=summary(exc))
            return {i.item_id: exc for i in items}
        wanted = {i.item_id for i in items}
        answers: dict[str, Answer] = {o.item_id: o for o in outcomes if o.item_id in wanted}
        delivered = retried = rejected = 0
        for answer in answers.values():
            if isinstance(answer, Delivered):
                delivered += 1
            elif isinstance(answer, RetryAfter):
                retried += 1
            elif isinstance(answer, Rejected):
                rejected += 1
        self.calls.append(
            CallLog(
                started_at=started,
                duration_ms=_ms(t0),
                items=len(items),
                delivered=delivered,
                retried=retried,
                rejected=rejected,
                result="ok" if delivered == len(items) else "partial",
            )
        )
        return answers

    def _log(
        self, started: datetime, t0: float, items: Sequence[Change], result: str, error: str
    ) -> None:
        self.calls.append(
            CallLog(
                started_at=started,
                duration_ms=_ms(t0),
                items=len(items),
                delivered=0,
                retried=0,
                rejected=0,
                result=result,
                error=error,
            )
        )


def summary(exc: BaseException) -> str:
    """A redacted one-line account of a failed call: class, HTTP status, vendor message."""
    parts = [type(exc).__name__]
    if isinstance(exc, SpokeError):
        if exc.status_code is not None:
            parts.append(f"HTTP {exc.status_code}")
        text = str(exc)
        if text:
            parts.append(text)
        if exc.vendor_message and exc.vendor_message not in text:
            parts.append(f"vendor: {exc.vendor_message}")
    elif str(exc):
        parts.append(str(exc))
    return clean(": ".join(parts[:1]) + (" " + " — ".join(parts[1:]) if parts[1:] else ""))


def _is_connection_failure(answer: Answer) -> bool:
    return isinstance(answer, AuthError | Throttled)


def _connection_failure(answers: dict[str, Answer]) -> bool:
    return any(_is_connection_failure(a) for a in answers.values())


def _ms(t0: float) -> int:
    return round((time.perf_counter() - t0) * 1000)
