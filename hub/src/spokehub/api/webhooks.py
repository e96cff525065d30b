"""``POST /v1/webhooks/{connection}``: raw bodies handed to the push source's spoke.

The spoke verifies the request (signature, shared secret) and parses it into records;
the records are committed to the inbox before the answer, like any other input.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from starlette.concurrency import run_in_threadpool

from spokehub_contracts import Source, WebhookRequest

from ..ingest import Accepted, IngestError, write_delivery, write_messages
from ..ingest.body import read_within
from ..ingest.keys import delivery_message_id, record_message_id
from ..logs import get_logger
from .ingestion import ErrorBody, Success
from .throttle import auth_check

router = APIRouter(tags=["webhooks"])
log = get_logger("spokehub.webhooks")


def _spoke(request: Request, connection: str) -> Source:
    app = request.app
    cache: dict[str, Source] = app.state.webhook_spokes
    if connection in cache:
        return cache[connection]
    conn = app.state.project.connections.get(connection)
    if conn is None or conn.kind != "source" or conn.spoke is None:
        raise IngestError(404, "not_found", "no push source connection of that name")
    registered = app.state.registry.sources.get(conn.spoke)
    if registered is None or not registered.cls.capabilities.webhooks:
        raise IngestError(404, "not_found", "that connection's spoke does not take webhooks")
    config = app.state.project.spoke_configs.get(connection)
    if config is None:
        config = registered.cls.Config.model_validate(conn.config)
    spoke = registered.cls(config, connection=connection)
    cache[connection] = spoke
    return spoke


@router.post(
    "/v1/webhooks/{connection}",
    response_model=Success,
    responses={
        401: {"model": ErrorBody, "description": "verification failed"},
        404: {"model": ErrorBody, "description": "no such push source"},
        413: {"model": ErrorBody, "description": "body too large"},
    },
    summary="Receive a webhook",
    dependencies=[Depends(auth_check("webhooks"))],
)
async def webhook(connection: str, request: Request) -> Any:
    """Verify and parse a vendor's webhook with the connection's spoke; commit the
    records it yields to the inbox; answer once committed."""
    spoke = _spoke(request, connection)
    app = request.app
    await app.state.backpressure.check()
    # Verified by its body: anonymous until that has arrived.
    body = await read_within(
        request.stream(),
        app.state.settings.max_batch_bytes,
        app.state.project.server.http.unauthenticated_body_timeout_seconds,
    )
    hook = WebhookRequest(
        headers=dict(request.headers), body=body, query=dict(request.query_params)
    )
    try:
        verified = await spoke.verify_webhook(hook)
    except NotImplementedError:
        raise IngestError(
            404, "not_found", "that connection's spoke does not take webhooks"
        ) from None
    if not verified:
        raise IngestError(401, "unauthorized", "webhook verification failed")
    try:
        records = await spoke.parse_webhook(hook)
    except Exception as exc:  # a vendor payload the spoke cannot read is the caller's mistake
        log.warning("webhook not parsed", connection=connection, error=type(exc).__name__)
        raise IngestError(400, "invalid_webhook", "the spoke could not parse the body") from None
    accepted = []
    for record in records:
        # Keyed by content: a vendor's retry of the same delivery is stored once, while a
        # later change to the same record is a new message.
        data = record.model_dump_json().encode("utf-8")
        accepted.append(Accepted(record_message_id(record), None, data))
    delivery = _delivery_id(spoke, hook, connection)
    settings = request.app.state.settings
    if delivery is not None:
        # The vendor named the event: a repeat is one whatever its body says.
        result = await run_in_threadpool(
            write_delivery,
            request.app.state.engine,
            connection,
            delivery_message_id(delivery),
            accepted,
            dedup_window=settings.dedup_window,
            kind="record",
        )
    elif accepted:
        result = await run_in_threadpool(
            write_messages,
            request.app.state.engine,
            connection,
            accepted,
            dedup_window=settings.dedup_window,
            kind="record",
        )
    else:
        return Success()
    app.state.backpressure.stored(result.stored)
    if result.stored:
        request.app.state.wake()
    return Success()


def _delivery_id(spoke: Source, hook: WebhookRequest, connection: str) -> str | None:
    try:
        delivery = spoke.webhook_delivery_id(hook)
    except Exception as exc:  # a spoke's bug costs the repeat check, not the webhook
        log.warning("webhook delivery id failed", connection=connection, error=type(exc).__name__)
        return None
    return delivery if isinstance(delivery, str) and delivery else None
