"""The daemon's privacy and retention work: pending requests carried out, receipts
settled, and what is past its window pruned."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable

from sqlalchemy import Engine

from ..config import Project
from ..logs import get_logger
from ..registry import Registry
from .erase import carry_out_pending
from .retention import prune
from .settle import settle

log = get_logger("spokehub.privacy")

#: Seconds between looks for pending requests and finished erasures.
POLL_SECONDS = 1.0


async def run_maintenance(
    engine: Engine,
    project: Project,
    registry: Registry,
    stop: asyncio.Event,
    *,
    counted: Callable[[str, int], None] = lambda _rule, _n: None,
    poll: float = POLL_SECONDS,
) -> None:
    """Until ``stop``: carry out requests and settle receipts every ``poll`` seconds,
    prune every ``retention.interval_seconds``. A failure is logged and tried again at
    the next round; it never stops the daemon."""
    next_prune = time.monotonic() + min(5.0, project.retention.interval_seconds)
    while not stop.is_set():
        try:
            await asyncio.to_thread(carry_out_pending, engine, project, registry)
            await asyncio.to_thread(settle, engine)
            if time.monotonic() >= next_prune:
                next_prune = time.monotonic() + project.retention.interval_seconds
                await prune(
                    engine,
                    project.retention,
                    project.server.dedup_window_hours,
                    counted=counted,
                    stop=stop,
                )
        except Exception as exc:
            log.error("privacy maintenance failed", error=type(exc).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), poll)
