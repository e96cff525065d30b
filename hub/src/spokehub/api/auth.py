"""Who is calling: a source by its write key, or an operator or a service by a bearer
token whose scopes must include the route's (see :mod:`spokehub.tokens`).

A credential carried in a header is checked before the request's body is read, and
every check is preceded by the per-address failure limit (:mod:`.throttle`).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
from fastapi.routing import APIRoute

from ..config import Project
from ..ingest import IngestError
from ..tokens import Grant, Scope
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


def require_scope(request: Request, scope: Scope) -> Grant:
    """Check the request's ``Authorization: Bearer <token>`` for ``scope``; the token's
    name is kept on ``request.state.token_name`` (an audit record names who asked).

    :raises HTTPException: 403 when no token is configured at all (the API is off), 401
        for a missing, empty or unknown token (counted against the client's address), 403
        for a token without ``scope``.
    """
    project: Project = request.app.state.project
    table = project.token_table()
    if not table:
        raise HTTPException(
            403, "the admin API is disabled: set server.admin_token or server.tokens"
        )
    guard_of(request.app).check(request, "admin")
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    grant = table.grant(given.strip()) if scheme.lower() == "bearer" else None
    if grant is None:
        raise HTTPException(401, "bearer token required", headers={"WWW-Authenticate": "Bearer"})
    if scope not in grant.scopes:
        raise HTTPException(403, f"token {grant.name!r} lacks the scope {scope!r}")
    request.state.token_name = grant.name
    return grant


#: What every scoped route may answer before it runs (OpenAPI ``responses``).
SCOPED_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: {"description": "bearer token missing, empty or unknown"},
    403: {"description": "the token lacks the route's scope, or no token is configured"},
}
#: The OpenAPI security scheme every scoped route names.
SECURITY_SCHEME = "bearerToken"
#: The OpenAPI operation key that names a route's scope (tests and clients read it).
SCOPE_KEY = "x-required-scope"


def scoped(read: Scope, write: Scope | None = None) -> type[APIRoute]:
    """A route class whose routes need a token with ``read`` (GET and HEAD) or ``write``
    (every other method; ``read`` when not given), checked before anything else, the
    body included (FastAPI would read and validate a body before the route's
    dependencies). The scope is written into the route's OpenAPI operation."""

    class ScopedRoute(APIRoute):
        def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
            # Set before APIRoute builds its handler, which reads it.
            methods = {m.upper() for m in kwargs.get("methods") or ("GET",)}
            reads = methods <= {"GET", "HEAD"}
            self.scope: Scope = read if reads or write is None else write
            super().__init__(path, endpoint, **kwargs)
            self.openapi_extra = {
                **(self.openapi_extra or {}),
                "security": [{SECURITY_SCHEME: [self.scope]}],
                SCOPE_KEY: self.scope,
            }

        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()
            scope = self.scope

            async def scoped_only(request: Request) -> Response:
                require_scope(request, scope)
                return await handler(request)

            return scoped_only

    ScopedRoute.__name__ = ScopedRoute.__qualname__ = f"ScopedRoute_{read}_{write}"
    return ScopedRoute
