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


def new_contact_ids(n: int) -> list[str]:
    """``n`` new central contact IDs in increasing order: the same values ``n`` calls of
    :func:`new_contact_id` would give, with one clock read and one draw of randomness."""
    global _last_ms, _seq
    if n <= 0:
        return []
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms > _last_ms:
            _last_ms = ms
            _seq = (int.from_bytes(os.urandom(2), "big") & 0x7FF) - 1
        stamps = []
        for _ in range(n):
            _seq += 1
            if _seq > 0xFFF:
                _last_ms += 1
                _seq = 0
            stamps.append((_last_ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | _seq << 64 | 0b10 << 62)
    noise = os.urandom(8 * n)
    mask = (1 << 62) - 1
    out = []
    for j, stamp in enumerate(stamps):
        h = f"{stamp | int.from_bytes(noise[8 * j : 8 * j + 8], 'big') & mask:032x}"
        out.append(f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}")
    return out
