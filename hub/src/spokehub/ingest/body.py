"""Reading a request body: a time limit, size caps, gzip with a bounded inflate, JSON
with orjson."""

from __future__ import annotations

import asyncio
import zlib
from collections.abc import AsyncIterator
from typing import Any

import orjson

from .errors import IngestError


async def read_capped(chunks: AsyncIterator[bytes], cap: int) -> bytes:
    """Collect a streamed body, refusing it as soon as it grows past ``cap`` bytes."""
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if size > cap:
            raise IngestError(413, "body_too_large", f"request body exceeds {cap} bytes")
        parts.append(chunk)
    return b"".join(parts)


async def read_within(chunks: AsyncIterator[bytes], cap: int, timeout: float) -> bytes:
    """:func:`read_capped` within ``timeout`` seconds for the whole body.

    :raises IngestError: 408 when the body has not arrived in time (answered with
        ``Connection: close``, so the server closes the connection: a client that stalls
        or trickles holds it no longer); 413 as :func:`read_capped`.
    """
    try:
        async with asyncio.timeout(timeout):
            return await read_capped(chunks, cap)
    except TimeoutError:
        raise IngestError(
            408,
            "body_timeout",
            f"request body not received within {timeout:g} s",
            {"Connection": "close"},
        ) from None


def decode(raw: bytes, content_encoding: str | None, cap: int) -> bytes:
    """Undo ``Content-Encoding`` (identity or gzip), inflating at most ``cap`` bytes.

    The inflate stops at ``cap + 1`` bytes, so a small compressed body that would expand to
    gigabytes (a gzip bomb) is refused after ``cap`` bytes of work.
    """
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("", "identity"):
        return raw
    if encoding not in ("gzip", "x-gzip"):
        raise IngestError(415, "unsupported_encoding", "Content-Encoding must be gzip or absent")
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(raw, cap + 1)
    except zlib.error:
        raise IngestError(400, "invalid_gzip", "body is not valid gzip") from None
    if len(out) > cap:
        raise IngestError(413, "body_too_large", f"decompressed request body exceeds {cap} bytes")
    if not inflater.eof:
        raise IngestError(400, "invalid_gzip", "gzip body is truncated")
    return out


def parse_json(body: bytes) -> Any:
    """Parse JSON, answering 400 with the parser's position (never the input) on failure."""
    if not body.strip():
        raise IngestError(400, "invalid_json", "request body is empty")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise IngestError(
            400, "invalid_json", f"body is not valid JSON (at char {exc.pos})"
        ) from None
