"""JSON error answers. Every error is ``{"success": false, "code", "message"}``, the shape
Segment and RudderStack clients read; a server fault never shows its internals."""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from ..ingest import IngestError
from ..logs import get_logger
from .throttle import auth_failed

log = get_logger("spokehub.api")


def error_response(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"success": False, "code": code, "message": message}, status_code=status)


def install_error_handlers(app: FastAPI) -> None:
    """Map every failure to a JSON answer: client mistakes to 4xx naming the field and
    rule (never the value), anything unexpected to a bare 500."""

    @app.exception_handler(IngestError)
    async def _ingest(request: Request, exc: IngestError) -> JSONResponse:
        metrics = getattr(request.app.state, "metrics", None)
        if metrics is not None:
            metrics.rejected.labels(exc.code).inc()
        if exc.status == 401:
            auth_failed(request, exc.message)
        response = error_response(exc.status, exc.code, exc.message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(p) for p in err.get("loc", ()))
            problems.append(f"{loc}: {err.get('msg', 'invalid')}")
        return error_response(422, "invalid_request", "; ".join(problems) or "invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {
            401: "unauthorized",
            403: "forbidden",
            404: "not_found",
            405: "method_not_allowed",
            429: "too_many_requests",
        }
        if exc.status_code == 401:
            auth_failed(request, str(exc.detail))
        response = error_response(
            exc.status_code, code.get(exc.status_code, "error"), str(exc.detail)
        )
        if exc.headers:
            response.headers.update(exc.headers)
        return response

    @app.exception_handler(ClientDisconnect)
    async def _gone(request: Request, _exc: ClientDisconnect) -> Response:
        # The client hung up before its body arrived: nothing was stored and nobody
        # reads an answer. Not an error of the hub's: one debug line.
        log.debug("client disconnected", path=request.url.path)
        return Response(status_code=499)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        # The type is enough to find the bug; the message may quote personal data.
        log.error("request failed", path=request.url.path, error=type(exc).__name__)
        return error_response(500, "internal_error", "internal server error")
