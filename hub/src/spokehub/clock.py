"""The activation clock: the time audiences and journeys decide by.

It is the wall clock moved by ``SPOKEHUB_CLOCK_OFFSET`` (a duration such as ``7d``,
``-2h`` or ``3600``), read when the process starts. Every process of a hub (the daemon
and its pipeline process) inherits it, so a test or a demo can start a hub "seven days
later" and see the timers due by then fire and the event windows close. Tests may also
hand any object with a ``now()`` method to the code that takes a clock. Delivery and
the outbox always run on the wall clock.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Protocol

from spokehub.audiences.definitions import parse_duration

#: The environment variable that moves the activation clock.
OFFSET_VAR = "SPOKEHUB_CLOCK_OFFSET"


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, aware, in UTC."""
        ...


class OffsetClock:
    """The wall clock plus a fixed offset."""

    def __init__(self, offset: timedelta = timedelta(0)) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    @classmethod
    def from_env(cls) -> OffsetClock:
        """The clock ``SPOKEHUB_CLOCK_OFFSET`` describes (the wall clock when unset).

        :raises ValueError: naming the variable, when it is not a duration.
        """
        raw = os.environ.get(OFFSET_VAR, "").strip()
        if not raw:
            return cls()
        sign = -1 if raw.startswith("-") else 1
        try:
            offset = parse_duration(raw.lstrip("+-"))
        except ValueError as exc:
            raise ValueError(f"{OFFSET_VAR}: {exc}") from None
        return cls(offset * sign)
