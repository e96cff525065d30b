"""Browsers sending events: CORS on the ingestion routes for ``server.cors_origins``.

analytics.js posts each event from the visitor's browser with ``Content-Type:
text/plain`` (a request a browser sends without asking first) and ``writeKey`` in the
body; other browser SDKs send JSON with an ``Authorization`` header, which the browser
first asks about with a preflight ``OPTIONS``. Both are answered for the configured
origins only, and only on the ingestion routes: the admin API is never opened to a
web page. A preflight from another origin is refused (400). No cookies are involved
(``Access-Control-Allow-Credentials`` is not sent): the write key is the credential.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from ..config import ServerSettings
from ..ingest import BATCH_KINDS, CALL_TYPES
from .ingestion import SHORT_PATHS

#: The paths a browser may send to.
INGESTION_PATHS = frozenset(f"/v1/{kind}" for kind in (*CALL_TYPES, *BATCH_KINDS, *SHORT_PATHS))
#: How long a browser may keep a preflight's answer (Chromium's cap is 2 h).
PREFLIGHT_MAX_AGE = 7200


class IngestionCORS:
    """ASGI middleware: CORS for the ingestion paths, everything else passed through."""

    def __init__(self, app: ASGIApp, origins: list[str]) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=origins,
            allow_methods=["POST"],
            allow_headers=["*"],
            # When to send again: Retry-After, and analytics.js reads X-RateLimit-Reset.
            expose_headers=["Retry-After", "X-RateLimit-Reset"],
            max_age=PREFLIGHT_MAX_AGE,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in INGESTION_PATHS:
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)


def install_cors(app: FastAPI, server: ServerSettings) -> None:
    """Answer browsers from ``server.cors_origins``; without any, no CORS at all."""
    if server.cors_origins:
        app.add_middleware(IngestionCORS, origins=list(server.cors_origins))
