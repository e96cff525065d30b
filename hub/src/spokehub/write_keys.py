"""Sources by write key, found with the same work whether or not a key exists.

A presented key is hashed once (SHA-256), the digest is looked up in a dict keyed by
the digests of the configured keys, and the entry found (or a stand-in when there is
none) is compared with :func:`hmac.compare_digest`. So the time an answer takes depends
on neither how many sources there are nor how much of a key a guess got right: a
lookup compares digests, which say nothing about the key they came from.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from hmac import compare_digest

#: What a lookup finds for an unknown key: a digest no key has, and no source.
_NO_ENTRY = (bytes(32), None)


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


class WriteKeyTable:
    """The write keys of a project's sources.

    :param keys: ``(source, key)`` pairs; when two sources list the same key the first
        keeps it (the project file's validation refuses that anyway).
    """

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        self._by_digest: dict[bytes, tuple[bytes, str | None]] = {}
        for source, key in keys:
            digest = _digest(key)
            self._by_digest.setdefault(digest, (digest, source))

    def source(self, key: str) -> str | None:
        """The source ``key`` belongs to, or ``None``; the same steps either way."""
        digest = _digest(key)
        known, source = self._by_digest.get(digest, _NO_ENTRY)
        return source if compare_digest(digest, known) else None
