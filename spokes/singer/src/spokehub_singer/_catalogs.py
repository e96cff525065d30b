"""Discovered catalogs, kept in the process for a while.

Every read needs the connector's catalog, and discovery starts the connector once more:
for a source built on a large SDK that is seconds per run. A catalog depends on the
program and its config, so it is kept per (program, its modification time, config) for
:data:`TTL` seconds; a reinstalled connector or a changed config discovers again.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

T = TypeVar("T")

#: Seconds a discovered catalog is reused.
TTL = 600.0

_KEPT: dict[tuple[str, float, str], tuple[float, Any]] = {}


async def discovered(
    program: str, config: Mapping[str, Any], discover: Callable[[], Awaitable[T]]
) -> T:
    """``discover()``'s answer for this program and config, from the last TTL seconds if
    there is one. The key holds a digest of the config, never the config (secrets)."""
    try:
        modified = os.stat(program).st_mtime
    except OSError:
        modified = 0.0
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()
    key = (program, modified, digest)
    now = time.monotonic()
    kept = _KEPT.get(key)
    if kept is not None and now - kept[0] < TTL:
        return kept[1]  # type: ignore[no-any-return]
    catalog = await discover()
    _KEPT[key] = (now, catalog)
    return catalog
