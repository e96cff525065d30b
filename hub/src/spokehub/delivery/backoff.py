"""When to try an item again, and when to give up on it.

Pure functions over a :class:`RetryPolicy`, so the schedule is easy to test: a vendor's
``Retry-After`` comes first; otherwise the wait grows exponentially with "equal jitter"
(half fixed, half random) so that a batch that failed together does not retry together.
An item that has used its attempts, or would next be tried after its maximum age, is
dead-lettered instead.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class RetryPolicy:
    """:param base: first wait in seconds; doubles (``factor``) per attempt up to ``cap``.
    :param max_attempts: attempts in all, the first included, before dead-lettering.
    :param max_age: seconds after the change was created beyond which it is not retried.
    """

    base: float = 1.0
    factor: float = 2.0
    cap: float = 600.0
    max_attempts: int = 10
    max_age: float = 24 * 3600.0


def next_delay(
    policy: RetryPolicy,
    attempts: int,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempts + 1``, after ``attempts`` failures.

    A vendor's ``retry_after`` is honoured as given, plus up to 10 % so that the items it
    covers do not all return in the same instant; it is never shortened.
    """
    rng = rng or random
    if retry_after is not None:
        return retry_after + rng.uniform(0, 0.1 * retry_after)
    exp = min(policy.cap, policy.base * policy.factor ** max(0, attempts - 1))
    return exp / 2 + rng.uniform(0, exp / 2)


def give_up_reason(
    policy: RetryPolicy,
    attempts: int,
    created_at: datetime,
    retry_at: datetime,
) -> str | None:
    """Why an item that failed ``attempts`` times must not be retried at ``retry_at``, or
    ``None`` when it may be."""
    if attempts >= policy.max_attempts:
        return f"gave up after {attempts} attempts"
    if retry_at - created_at > timedelta(seconds=policy.max_age):
        return f"gave up after {attempts} attempts: older than {policy.max_age:g}s"
    return None
