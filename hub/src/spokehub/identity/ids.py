"""Central contact IDs: time-ordered UUIDv7 strings (RFC 9562).

Time order matters: "the survivor keeps the oldest contact ID" is then a plain string
comparison, with no lookup of creation times.
"""

from __future__ import annotations

import os
import threading
import time
import uuid

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def uuid7() -> uuid.UUID:
    """A new UUIDv7. Within one process the IDs are strictly increasing, even when many are
    made in the same millisecond (a 12-bit counter seeded randomly each millisecond)."""
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            # Seed in the lower half so a burst rarely overflows into the next millisecond.
            _seq = int.from_bytes(os.urandom(2), "big") & 0x7FF
        else:
            _seq += 1
            if _seq > 0xFFF:
                # Counter exhausted: borrow the next millisecond to stay monotonic.
                _last_ms += 1
                _seq = 0
            ms = _last_ms
        seq = _seq
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand_b
    return uuid.UUID(int=value)


def new_contact_id() -> str:
    """A new central contact ID, as the canonical 36-character string."""
    return str(uuid7())
