"""``/v1/privacy/requests`` (scope ``privacy``): erasure, suppression and access
requests, as Segment's regulations offer them, and their receipts.

A request is filed and then carried out at once in the hub's own tables (the answer
says ``waiting`` while destinations erase, ``done`` when nothing is left to wait for);
should that fail it stays ``pending`` and the daemon tries again. Destinations erase
through the delivery lanes; ``GET`` shows a receipt per destination.
"""

from __future__ import annotations

import contextlib
from typing import Any, Literal

from fastapi import APIRouter, HTTPException, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from spokehub_contracts import Identifier, PrivacyAction

from ..privacy.erase import carry_out
from ..privacy.export import export_subject
from ..privacy.requests import RequestView, file_request, read_request, subject_of
from ..store.driver_sql import transaction
from .auth import SCOPED_RESPONSES, scoped
from .ingestion import ErrorBody

router = APIRouter(
    prefix="/v1/privacy",
    tags=["privacy"],
    route_class=scoped("privacy"),
    responses={
        **{code: {"model": ErrorBody, **r} for code, r in SCOPED_RESPONSES.items()},
        404: {"model": ErrorBody, "description": "no such request"},
    },
)


class PrivacyRequestBody(BaseModel):
    """A data subject's request."""

    kind: Literal["delete", "delete_and_suppress", "unsuppress", "access"] = Field(
        description="delete; delete_and_suppress (and keep the identifiers out); "
        "unsuppress; access (an export of the subject's data)"
    )
    identifiers: list[str] = Field(
        min_length=1, max_length=50, description="TYPE:VALUE, e.g. email:ada@example.com"
    )
    reason: str | None = Field(default=None, max_length=1000)
    reference: str | None = Field(
        default=None, max_length=256, description="your own id for the request"
    )


class PrivacyRequestAnswer(RequestView):
    export: dict[str, Any] | None = Field(
        default=None, description="an access request's export of the subject's data"
    )


def _identifiers(texts: list[str]) -> list[Identifier]:
    parsed = []
    for i, text in enumerate(texts):
        try:
            parsed.append(Identifier.parse(text))
        except ValueError as exc:
            raise HTTPException(422, f"identifiers[{i}]: {exc}") from None
    return parsed


@router.post("/requests", response_model=PrivacyRequestAnswer, summary="File a request")
async def create_request(request: Request, body: PrivacyRequestBody) -> PrivacyRequestAnswer:
    """File a request and carry it out in the hub; destinations follow through the lanes."""
    subject = _identifiers(body.identifiers)
    app = request.app
    token = getattr(request.state, "token_name", None)

    def file() -> str:
        with transaction(app.state.engine, urgent=True) as conn:
            return file_request(
                conn,
                PrivacyAction(body.kind),
                subject,
                source="api",
                requested_by=token,
                reference=body.reference,
                reason=body.reason,
            )

    request_id = await run_in_threadpool(file)
    # A failure is logged and leaves the request pending: the daemon tries again.
    with contextlib.suppress(Exception):
        await run_in_threadpool(
            carry_out, app.state.engine, app.state.project, app.state.registry, request_id
        )
    return await run_in_threadpool(_answer, request, request_id)


@router.get(
    "/requests/{request_id}", response_model=PrivacyRequestAnswer, summary="A request's receipts"
)
async def get_request(request: Request, request_id: str) -> PrivacyRequestAnswer:
    """The request, a receipt per destination, and for an access request the export."""
    return await run_in_threadpool(_answer, request, request_id)


def _answer(request: Request, request_id: str) -> PrivacyRequestAnswer:
    app = request.app
    with transaction(app.state.engine, readonly=True) as conn:
        view = read_request(conn, request_id)
        if view is None:
            raise HTTPException(404, "no privacy request with that id")
        export = None
        if view.action == PrivacyAction.ACCESS.value:
            held = subject_of(conn, request_id)
            if held:
                export = export_subject(conn, app.state.project.identity, held)
    return PrivacyRequestAnswer(**view.model_dump(), export=export)
