"""Filing a privacy request and reading it back with its receipts.

A request is filed in the caller's transaction (an API call, a CLI command, or the
pipeline's batch for a source's ``privacy_request`` record) and carried out afterwards
by :func:`spokehub.privacy.erase.carry_out`, so a request that enters is never lost and
the caller never waits for an erasure of the whole store.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import Connection, insert, select

from spokehub_contracts import Identifier, PrivacyAction

from ..store.driver_sql import utc, utcnow
from .tables import privacy_receipts, privacy_requests

#: Statuses after which nothing more happens to a request.
FINAL = frozenset({"done", "failed"})


def file_request(
    conn: Connection,
    action: PrivacyAction | str,
    subject: Sequence[Identifier],
    *,
    source: str,
    requested_by: str | None = None,
    reference: str | None = None,
    reason: str | None = None,
    requested_at: datetime | None = None,
) -> str:
    """File a request about the person ``subject`` names; returns its id (``pr_…``).

    :param source: what it came through: ``api``, ``cli`` or a source connection.
    :param requested_by: who asked: the API token's name, or the source connection.
    """
    if not subject:
        raise ValueError("a privacy request names its subject by at least one identifier")
    request_id = "pr_" + secrets.token_hex(12)
    now = utcnow()
    conn.execute(
        insert(privacy_requests).values(
            id=request_id,
            action=PrivacyAction(action).value,
            status="pending",
            source=source,
            requested_by=requested_by,
            reference=reference,
            reason=reason,
            subject=sorted({str(i) for i in subject}),
            requested_at=requested_at or now,
            created_at=now,
        )
    )
    return request_id


class Receipt(BaseModel):
    """What one destination did with a request's erasure."""

    destination: str
    status: str = Field(description="pending, deleted, failed or not_supported")
    reference: str | None = Field(default=None, description="the vendor's id for the deletion")
    detail: str | None = None
    updated_at: datetime


class RequestView(BaseModel):
    """A privacy request as ``privacy status`` and ``GET /v1/privacy/requests/{id}`` show it."""

    id: str
    action: str
    status: str = Field(description="pending, erasing, waiting (for receipts), done or failed")
    source: str
    requested_by: str | None = None
    reference: str | None = None
    reason: str | None = None
    contact_ids: list[str] = Field(default_factory=list)
    summary: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    requested_at: datetime
    created_at: datetime
    erased_at: datetime | None = None
    finished_at: datetime | None = None
    receipts: list[Receipt] = Field(default_factory=list)


def read_request(conn: Connection, request_id: str) -> RequestView | None:
    """The request with its receipts (never its subject), or ``None``."""
    r = conn.execute(select(privacy_requests).where(privacy_requests.c.id == request_id)).first()
    if r is None:
        return None
    receipts = [
        Receipt(
            destination=x.destination,
            status=x.status,
            reference=x.reference,
            detail=x.detail,
            updated_at=utc(x.updated_at),
        )
        for x in conn.execute(
            select(privacy_receipts)
            .where(privacy_receipts.c.request_id == request_id)
            .order_by(privacy_receipts.c.destination)
        )
    ]
    return RequestView(
        id=r.id,
        action=r.action,
        status=r.status,
        source=r.source,
        requested_by=r.requested_by,
        reference=r.reference,
        reason=r.reason,
        contact_ids=r.contact_ids or [],
        summary=r.summary or {},
        error=r.error,
        requested_at=utc(r.requested_at),
        created_at=utc(r.created_at),
        erased_at=r.erased_at and utc(r.erased_at),
        finished_at=r.finished_at and utc(r.finished_at),
        receipts=receipts,
    )


def subject_of(conn: Connection, request_id: str) -> list[Identifier]:
    """The identifiers a request still holds (empty once an erasure has run)."""
    held = conn.execute(
        select(privacy_requests.c.subject).where(privacy_requests.c.id == request_id)
    ).scalar_one_or_none()
    return [Identifier.parse(text) for text in held or ()]
