"""From a destination's answer for one item to the row's next state (pure logic)."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

from spokehub_contracts import AuthError, Delivered, PermanentError, Rejected, RetryAfter, Throttled

from .backoff import RetryPolicy, give_up_reason, next_delay
from .claim import Claimed
from .record import Result
from .send import Answer, summary

NO_OUTCOME = "the destination returned no outcome for this item"


def dead(row: Claimed, now: datetime, error: str) -> Result:
    """``row`` given up after one more attempt, ready for replay, with ``error`` as why."""
    return Result(row.id, "dead", row.attempts + 1, finished_at=now, error=error)


def judge(
    row: Claimed,
    answer: Answer | None,
    policy: RetryPolicy,
    now: datetime,
    rng: random.Random | None = None,
) -> Result | None:
    """The row's next state after ``answer``; ``None`` for an auth failure, where the row
    goes back unchanged while the lane is paused.

    A whole-call ``Throttled`` is not the item's fault and costs no attempt (the item's
    age still bounds it); every other failure counts one.
    """
    tried = row.attempts + 1
    if isinstance(answer, Delivered):
        return Result(row.id, "delivered", tried, finished_at=now, external_id=answer.external_id)
    if isinstance(answer, Rejected):
        return dead(row, now, f"rejected by the destination: {answer.reason}")
    if isinstance(answer, AuthError):
        return None
    if isinstance(answer, PermanentError):
        return dead(row, now, summary(answer))
    if isinstance(answer, Throttled):
        return _retry(row, row.attempts, policy, now, answer.retry_after, summary(answer), rng)
    if isinstance(answer, RetryAfter):
        reason = (
            f"the destination asked to retry: {answer.reason}"
            if answer.reason
            else ("the destination asked to retry")
        )
        return _retry(row, tried, policy, now, answer.seconds, reason, rng)
    reason = NO_OUTCOME if answer is None else summary(answer)
    return _retry(row, tried, policy, now, None, reason, rng)


def _retry(
    row: Claimed,
    attempts: int,
    policy: RetryPolicy,
    now: datetime,
    retry_after: float | None,
    reason: str,
    rng: random.Random | None,
) -> Result:
    delay = next_delay(policy, attempts, retry_after, rng)
    due = now + timedelta(seconds=delay)
    given_up = give_up_reason(policy, attempts, row.created_at, due)
    if given_up:
        return Result(
            row.id, "dead", attempts, finished_at=now, error=f"{given_up}; last response: {reason}"
        )
    return Result(row.id, "retry", attempts, due_at=due, error=reason)
