"""Who is calling: a source by its write key, or an operator by the admin token.

A credential carried in a header is checked before the request's body is read, and
every check is preceded by the per-address failure limit (:mod:`.throttle`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from ..config import Project
from ..ingest import IngestError
from .throttle import guard_of


def basic_user(authorization: str | None) -> str | None:
    """The user name of an HTTP Basic ``Authorization`` header (Segment puts the write key
    there, with an empty password), or ``None`` when there is no Basic header."""
    if not authorization:
        return None
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise IngestError(401, "unauthorized", "Authorization header is not valid Basic") from None
    return decoded.partition(":")[0]


def source_for_key(project: Project, key: str | None) -> str:
    """The source connection a write key belongs to.

    :raises IngestError: 401 when no key was given or it is unknown (the key is never echoed).
    """
    if not key:
        raise IngestError(
            401, "unauthorized", "write key required: HTTP Basic user name or writeKey in body"
        )
    source = project.source_for_write_key(key)
    if source is None:
        raise IngestError(401, "unauthorized", "unknown write key")
    return source


def header_source(request: Request) -> str | None:
    """The source named by an ingestion request's Basic ``Authorization`` header, or
    ``None`` when the key is not in a header; checked before the body is read.

    :raises HTTPException: 429 when the client's address failed too often.
    :raises IngestError: 401 for a header that is not valid Basic or an unknown key.
    """
    guard_of(request.app).check(request, "ingestion")
    key = basic_user(request.headers.get("authorization"))
    return source_for_key(request.app.state.project, key) if key else None


def require_admin(request: Request) -> None:
    """FastAPI dependency: the request carries ``Authorization: Bearer <server.admin_token>``.

    An empty presented token is refused whatever is configured, so a token that came out
    empty (an unset variable) can never open the API.
    """
    project: Project = request.app.state.project
    token = project.server.admin_token
    if token is None:
        raise HTTPException(403, "the profile API is disabled: set server.admin_token")
    guard_of(request.app).check(request, "admin")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    given = given.strip()
    if (
        scheme.lower() != "bearer"
        or not given
        # Digests of equal length, so the comparison does not tell the token's length.
        or not hmac.compare_digest(_digest(given), _digest(token.get_secret_value()))
    ):
        raise HTTPException(401, "admin token required", headers={"WWW-Authenticate": "Bearer"})


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()


class AdminRoute(APIRoute):
    """A route of the admin API: :func:`require_admin` runs before anything else, the
    body included (FastAPI would read and validate a body before the route's
    dependencies)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def admin_only(request: Request) -> Response:
            require_admin(request)
            return await handler(request)

        return admin_only
