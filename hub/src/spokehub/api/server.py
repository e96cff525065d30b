"""The HTTP server's side of slow and idle clients: uvicorn's settings from
``server.http``, and a time limit on a request's headers, which uvicorn does not have.

What each limit covers (the body's own limit is the API's, see
:func:`spokehub.ingest.body.read_within`):

- ``header_timeout_seconds``: from a connection's first byte, or a request's, to the end
  of its headers. uvicorn starts no clock until it has answered once, so a client that
  opened a connection and sent half a request line held it for ever.
- ``keep_alive_seconds``: uvicorn's ``timeout_keep_alive``, an idle connection between
  two requests.
- ``max_concurrency``: uvicorn's ``limit_concurrency``; beyond that many open connections
  (or requests in progress) a request is answered 503 at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

import uvicorn

from ..config import HttpSettings

try:  # uvicorn's fast HTTP parser, where httptools is installed
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # pragma: no cover - httptools is a dependency of the hub
    HttpToolsProtocol = None


def server_config(
    app: Any, http: HttpSettings, *, host: str, port: int, **options: Any
) -> uvicorn.Config:
    """uvicorn's configuration for serving ``app`` with the limits of ``http``; further
    ``options`` are uvicorn's own."""
    protocol: Any = "auto"
    if HttpToolsProtocol is not None:
        protocol = type(
            "HeaderTimeoutProtocol",
            (_HeaderTimeout,),
            {"header_timeout": http.header_timeout_seconds},
        )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        timeout_keep_alive=http.keep_alive_seconds,
        limit_concurrency=http.max_concurrency,
        **options,
    )


if HttpToolsProtocol is not None:

    class _HeaderTimeout(HttpToolsProtocol):  # type: ignore[misc, valid-type]
        """uvicorn's httptools protocol with a clock on each request's headers."""

        header_timeout = 10.0
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._start_header_clock()

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._start_header_clock()

        def on_headers_complete(self) -> None:
            self._stop_header_clock()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._stop_header_clock()
            super().connection_lost(exc)

        def _start_header_clock(self) -> None:
            self._stop_header_clock()
            self._header_timer = self.loop.call_later(self.header_timeout, self._headers_late)

        def _stop_header_clock(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _headers_late(self) -> None:
            # No request is in progress, so there is nobody to answer: just hang up.
            self._header_timer = None
            if not self.transport.is_closing():
                self.transport.close()
