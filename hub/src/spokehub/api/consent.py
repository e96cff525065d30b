"""``POST /v1/consent`` (scope ``profiles:write``): a consent decision from an operator or a system
without a spoke (a support desk, a preference centre, a consent manager's backend).

The decision enters the inbox as a ``consent`` record of the connection
:data:`API_CONNECTION`, like any record: the pipeline appends it to the profile's consent
ledger, derives the current state and, when that changed, tells every destination that
keeps a subscription status. The answer comes once the record is committed.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import HTTPException, Request
from fastapi.routing import APIRouter
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from spokehub_contracts import Consent, ConsentPurpose, Identifier, SourceRecord, utcnow

from ..ingest import Accepted, write_messages
from ..ingest.keys import record_message_id
from .auth import SCOPED_RESPONSES, scoped
from .ingestion import ErrorBody

#: The inbox connection consent decisions of the API are filed under.
API_CONNECTION = "api"

router = APIRouter(
    tags=["consent"],
    route_class=scoped("profiles:write"),
    responses={
        **{code: {"model": ErrorBody, **r} for code, r in SCOPED_RESPONSES.items()},
    },
)


class ConsentRequest(BaseModel):
    """One person's decision about one purpose."""

    identifiers: list[str] = Field(
        min_length=1,
        max_length=20,
        description="TYPE:VALUE of the person, e.g. email:ada@example.com",
        examples=[["email:ada@example.com"]],
    )
    purpose: ConsentPurpose
    granted: bool
    source: str = Field(
        default=API_CONNECTION,
        min_length=1,
        max_length=200,
        description="the tool or process that took the decision",
    )
    recorded_at: datetime | None = Field(
        default=None, description="when the person decided; now if left out"
    )
    evidence: str | None = Field(
        default=None,
        max_length=500,
        description="what proves it: a ticket, a form submission, a message id",
    )


class ConsentAccepted(BaseModel):
    """The decision is in the inbox; ``message_id`` is its inbox key."""

    success: bool = True
    message_id: str


@router.post(
    "/v1/consent",
    response_model=ConsentAccepted,
    summary="Record a consent decision",
    responses={422: {"model": ErrorBody, "description": "a field breaks its rule"}},
)
async def record_consent(request: Request, body: ConsentRequest) -> ConsentAccepted:
    """Append a decision to the person's consent ledger (through the inbox)."""
    found: list[Identifier] = []
    for i, text in enumerate(body.identifiers):
        try:
            found.append(Identifier.parse(text))
        except ValueError as exc:
            raise HTTPException(422, f"identifiers[{i}]: {exc}") from None
    moment = body.recorded_at or utcnow()
    if moment.tzinfo is None:
        raise HTTPException(422, "recorded_at: must carry a time zone (or Z)")
    record = SourceRecord(
        stream="consent",
        record_id=body.evidence,
        identifiers=tuple(dict.fromkeys(found)),
        data=Consent(
            purpose=body.purpose, granted=body.granted, source=body.source, recorded_at=moment
        ),
        observed_at=moment,
    )
    app = request.app
    await app.state.backpressure.check()
    message_id = record_message_id(record)
    accepted = Accepted(message_id, None, record.model_dump_json().encode("utf-8"))
    result = await run_in_threadpool(
        write_messages,
        app.state.engine,
        API_CONNECTION,
        [accepted],
        dedup_window=app.state.settings.dedup_window,
        kind="record",
    )
    app.state.backpressure.stored(result.stored)
    app.state.wake()
    return ConsentAccepted(message_id=message_id)
