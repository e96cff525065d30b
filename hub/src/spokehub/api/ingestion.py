"""Segment-compatible ingestion: ``/v1/identify|track|page|screen|group|alias|batch|import``.

Each request is read under a size cap, inflated under the same cap, shape-checked, and
committed to the inbox in one transaction before ``{"success": true}`` is answered. A
request is all-or-nothing: one bad message refuses the whole request, naming it.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from spokehub_contracts import utcnow

from ..ingest import (
    BATCH_KINDS,
    CALL_TYPES,
    MAX_BATCH_BYTES,
    MAX_EVENT_BYTES,
    Accepted,
    InboxWrite,
    IngestError,
    IngestSettings,
    check_messages,
    decode,
    parse_json,
    read_batch,
    write_key_in_body,
    write_messages,
)
from ..ingest.body import read_within
from ..ingest.storable import check_storable
from ..store.engine import urgent_write_ahead
from .auth import header_source, source_for_key
from .segment_schema import batch_schema, message_schema

router = APIRouter(tags=["ingestion"])


class Success(BaseModel):
    """The answer once every message of the request is committed."""

    success: bool = True


class ErrorBody(BaseModel):
    """A refused request: ``code`` is stable, ``message`` names the field and the rule."""

    success: bool = False
    code: str
    message: str


_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "malformed JSON, a message breaking the spec"},
    401: {"model": ErrorBody, "description": "missing or unknown write key"},
    408: {"model": ErrorBody, "description": "the body did not arrive in time"},
    413: {
        "model": ErrorBody,
        "description": (
            f"a message over {MAX_EVENT_BYTES} bytes or a body over {MAX_BATCH_BYTES} bytes"
        ),
    },
    415: {"model": ErrorBody, "description": "unsupported Content-Encoding"},
    503: {
        "model": ErrorBody,
        "description": "backlog full, disk nearly full or shutting down; see Retry-After",
    },
}


#: The answer to every accepted request, encoded once.
_SUCCESS = b'{"success":true}'


async def ingest(request: Request, kind: str) -> Response:
    """Accept one Segment call or batch; answer only after it is committed."""
    app = request.app
    settings: IngestSettings = app.state.settings
    if not app.state.accepting:
        raise IngestError(
            503, "shutting_down", "the hub is shutting down; retry", {"Retry-After": "5"}
        )
    headers = request.headers
    # A key in the header is checked before the body is read (an unknown one costs
    # nothing more); an address that failed too often is refused before either.
    source = header_source(request)
    # A full backlog refuses before the body is read, too.
    await app.state.backpressure.check()

    cap = settings.max_batch_bytes
    length = headers.get("content-length")
    if length and length.isdigit() and int(length) > cap:
        raise IngestError(413, "body_too_large", f"request body exceeds {cap} bytes")
    # A body that carries its own key is anonymous until it has arrived: it gets less
    # time to arrive.
    http = app.state.project.server.http
    timeout = http.body_timeout_seconds
    if source is None:
        timeout = http.unauthenticated_body_timeout_seconds
    raw = await read_within(request.stream(), cap, timeout)
    body = decode(raw, headers.get("content-encoding"), cap)
    received_at = utcnow().isoformat()
    # The common case, a well-formed batch, is stored without encoding each message again;
    # any other request takes the full path, which names what is wrong.
    fast = read_batch(kind, body, received_at, settings)
    if fast is not None:
        body_key, accepted = fast
        if source is None:
            source = source_for_key(app.state.project, body_key)
    else:
        payload = parse_json(body)
        if source is None:
            source = source_for_key(app.state.project, write_key_in_body(payload))
        accepted = check_messages(kind, payload, received_at, settings)
    # Either path: nothing the store could not hold is acknowledged.
    check_storable(kind, accepted, body)
    # Only a complete, authenticated body ready to commit makes background writers of
    # other processes (the pipeline) hold back for it: a client that stalls, or never
    # authenticates, holds nobody back.
    with urgent_write_ahead(app.state.engine):
        result = await _write(app, source, accepted, settings)
    app.state.metrics.accepted.labels(source).inc(result.stored)
    if result.duplicates:
        app.state.metrics.duplicates.labels(source).inc(result.duplicates)
    if result.stored:
        app.state.backpressure.stored(result.stored)
        app.state.wake()
    return Response(_SUCCESS, media_type="application/json")


async def _write(
    app: Any, source: str, accepted: list[Accepted], settings: IngestSettings
) -> InboxWrite:
    writer = app.state.inbox_writer
    if writer is not None:
        # SQLite: the group writer commits this request together with the others
        # waiting at that moment, in its own thread, while the loop goes on parsing.
        return await writer.write(source, accepted, dedup_window=settings.dedup_window)
    # PostgreSQL writers run side by side; the loop keeps serving while they wait on
    # the network.
    return await run_in_threadpool(
        write_messages,
        app.state.engine,
        source,
        accepted,
        dedup_window=settings.dedup_window,
    )


def _endpoint(kind: str) -> Any:
    async def endpoint(request: Request) -> Response:
        return await ingest(request, kind)

    endpoint.__name__ = f"ingest_{kind}"
    endpoint.__doc__ = (
        f"Segment-compatible ``{kind}``: HTTP Basic auth with the write key as user name "
        "(or ``writeKey`` in the body); gzip accepted. Answers once committed."
    )
    return endpoint


#: analytics.js (analytics-next) posts to ``{apiHost}/<first letter of the call type>``,
#: and its batching mode to ``{apiHost}/b``; with ``apiHost`` set to the hub's ``/v1``
#: these are the paths it uses.
SHORT_PATHS = {kind[0]: kind for kind in CALL_TYPES} | {"b": "batch"}


def _route(path: str, kind: str, summary: str) -> None:
    schema = batch_schema() if kind in BATCH_KINDS else message_schema(kind, type_required=False)
    router.add_api_route(
        path,
        _endpoint(kind),
        methods=["POST"],
        response_model=Success,
        responses=_RESPONSES,
        summary=summary,
        openapi_extra={
            "requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}
        },
    )


for _kind in (*sorted(CALL_TYPES), *sorted(BATCH_KINDS)):
    _route(f"/v1/{_kind}", _kind, f"Ingest {_kind}")
for _short, _kind in sorted(SHORT_PATHS.items()):
    _route(f"/v1/{_short}", _kind, f"Ingest {_kind} (analytics.js short path)")
