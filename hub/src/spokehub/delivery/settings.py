"""How delivery lanes behave: retry policy, leases, polling and concurrency.

The defaults suit a hub on one machine; tests and the benchmark shorten the waits. The
project file has no ``delivery:`` section yet, so :func:`~spokehub.delivery.run_lanes`
takes these settings as an argument.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .backoff import RetryPolicy


@dataclass(frozen=True)
class DeliverySettings:
    """Knobs of every lane.

    :param retry: backoff, attempts and age limits before an item is dead-lettered.
    :param lease_seconds: how long a claim holds rows; a running lane renews it, so it
        only bounds how long rows of a crashed hub wait before another lane takes them.
    :param idle_poll_seconds: pause between polls when the last claim was not full.
    :param concurrency: batches one lane may have in flight at once (per-profile order is
        kept by the claim, which never hands out a row behind an unfinished one).
    :param write_timeout: longest a single ``write()`` may take before it counts as a
        transient failure.
    :param max_lane_backoff: longest a lane holds back after consecutive whole-call
        failures (the items themselves follow ``retry``).
    :param auth_probe_seconds: how often a paused lane calls ``check()`` to see whether the
        credentials work again.
    :param shutdown_grace: how long a stopping lane lets in-flight calls finish.
    """

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    lease_seconds: float = 60.0
    idle_poll_seconds: float = 0.05
    concurrency: int = 2
    write_timeout: float = 120.0
    max_lane_backoff: float = 30.0
    auth_probe_seconds: float = 300.0
    shutdown_grace: float = 10.0
