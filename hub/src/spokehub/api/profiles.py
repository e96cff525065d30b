"""The profile API: read a profile, find one by identifier, explain it, page through its
events (scope ``profiles:read``), and undo a bad link (``profiles:write``).

Reads run in read-only transactions; ``unmerge`` runs in a write transaction of its own.
Contact IDs that were merged away answer with the surviving profile.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel, Field
from sqlalchemy import Connection, select
from starlette.concurrency import run_in_threadpool

from spokehub_contracts import Identifier

from ..config import Project
from ..identity import IdentityRules, NoSuchEvidence, UnknownIdentifier
from ..identity.explain import explain
from ..identity.lookup import live_contact_id, lookup
from ..identity.unmerge import unmerge
from ..pipeline.identity_changes import announce_splits
from ..profiles import profile_view
from ..store.driver_sql import transaction
from ..store.tables import events
from .auth import SCOPED_RESPONSES, scoped
from .ingestion import ErrorBody

T = TypeVar("T")

router = APIRouter(
    prefix="/v1/profiles",
    tags=["profiles"],
    route_class=scoped("profiles:read", "profiles:write"),
    responses={
        **{code: {"model": ErrorBody, **r} for code, r in SCOPED_RESPONSES.items()},
        404: {"model": ErrorBody, "description": "no such profile or identifier"},
    },
)


class Profile(BaseModel):
    """A profile as the profile store assembles it, under its live contact ID."""

    contact_id: str
    requested_id: str | None = Field(
        default=None, description="the ID asked for, when it was merged into this profile"
    )
    profile: dict[str, Any] = Field(description="traits, identifiers, consents, scores, …")


class EventItem(BaseModel):
    id: int
    type: str
    event: str | None
    connection: str
    message_id: str | None
    properties: dict[str, Any]
    context: dict[str, Any]
    timestamp: datetime
    received_at: datetime


class EventPage(BaseModel):
    """One page of a profile's events, oldest first; pass ``next_cursor`` as ``cursor``."""

    contact_id: str
    events: list[EventItem]
    next_cursor: int | None = None


class UnmergeRequest(BaseModel):
    """What to undo: exactly one of ``identifier`` (detach it), ``pair`` (the direct link
    between two identifiers) or ``record_id`` (every link one record made)."""

    identifier: str | None = Field(default=None, examples=["email:ada@example.com"])
    pair: tuple[str, str] | None = None
    record_id: str | None = None
    reason: str = Field(default="", max_length=500)


def _rules(request: Request) -> IdentityRules:
    project: Project = request.app.state.project
    return project.identity


def _parse_identifier(text: str, name: str) -> Identifier:
    try:
        return Identifier.parse(text)
    except ValueError as exc:
        raise HTTPException(422, f"{name}: {exc}") from None


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
    return jsonable_encoder(value)


def _read(request: Request, work: Callable[[Connection], T]) -> T:
    """``work`` in a read-only transaction of the app's store."""
    engine = request.app.state.engine
    with transaction(engine, readonly=True) as conn:
        return work(conn)


def _live(conn: Connection, contact_id: str) -> str:
    live = live_contact_id(conn, contact_id)
    if live is None:
        raise HTTPException(404, "no profile with that contact ID")
    return live


def _profile(
    conn: Connection, project: Project, contact_id: str, requested: str | None = None
) -> Profile:
    view = _jsonable(profile_view(conn, contact_id, project.identity))
    if not isinstance(view, dict):
        view = {"view": view}
    return Profile(
        contact_id=contact_id,
        requested_id=requested if requested and requested != contact_id else None,
        profile=view,
    )


@router.get("", response_model=Profile, summary="Find a profile by identifier")
async def find_profile(
    request: Request,
    identifier: str = Query(description="TYPE:VALUE, e.g. email:ada@example.com"),
) -> Profile:
    """The profile holding ``identifier``."""
    ident = _parse_identifier(identifier, "identifier")

    def work(conn: Connection) -> Profile:
        contact_id = lookup(conn, ident)
        if contact_id is None:
            raise HTTPException(404, "no profile holds that identifier")
        return _profile(conn, request.app.state.project, contact_id)

    return await run_in_threadpool(_read, request, work)


@router.get("/{contact_id}", response_model=Profile, summary="Read a profile")
async def get_profile(request: Request, contact_id: str) -> Profile:
    """The profile ``contact_id`` names (or was merged into)."""

    def work(conn: Connection) -> Profile:
        return _profile(conn, request.app.state.project, _live(conn, contact_id), contact_id)

    return await run_in_threadpool(_read, request, work)


@router.get("/{contact_id}/explain", summary="Explain a profile or a link")
async def explain_profile(
    request: Request,
    contact_id: str,
    other: str | None = Query(
        default=None, description="TYPE:VALUE or a contact ID: why is it (not) this person?"
    ),
) -> Any:
    """The evidence chain and merge log behind a profile, or between it and ``other``."""
    rules = _rules(request)
    ref_b: Any = None
    if other is not None:
        ref_b = _parse_identifier(other, "other") if ":" in other else other

    def work(conn: Connection) -> Any:
        try:
            return _jsonable(explain(conn, rules, _live(conn, contact_id), ref_b))
        except UnknownIdentifier:
            raise HTTPException(404, "unknown identifier or contact ID") from None

    return await run_in_threadpool(_read, request, work)


@router.get("/{contact_id}/events", response_model=EventPage, summary="A profile's events")
async def profile_events(
    request: Request,
    contact_id: str,
    cursor: int | None = Query(default=None, ge=0, description="next_cursor of the last page"),
    limit: int = Query(default=100, ge=1, le=1000),
) -> EventPage:
    """The profile's events, oldest first, ``limit`` per page."""

    def work(conn: Connection) -> EventPage:
        live = _live(conn, contact_id)
        query = (
            select(
                events.c.id,
                events.c.type,
                events.c.event,
                events.c.connection,
                events.c.message_id,
                events.c.properties,
                events.c.context,
                events.c.timestamp,
                events.c.received_at,
            )
            .where(events.c.contact_id == live)
            .order_by(events.c.id)
            .limit(limit + 1)
        )
        if cursor is not None:
            query = query.where(events.c.id > cursor)
        rows = [EventItem(**r._mapping) for r in conn.execute(query)]
        more = len(rows) > limit
        rows = rows[:limit]
        return EventPage(
            contact_id=live, events=rows, next_cursor=rows[-1].id if more and rows else None
        )

    return await run_in_threadpool(_read, request, work)


@router.post("/{contact_id}/unmerge", summary="Undo a bad link")
async def unmerge_profile(request: Request, contact_id: str, body: UnmergeRequest) -> Any:
    """Remove the named evidence and split the profile where it no longer holds together."""
    given = [body.identifier is not None, body.pair is not None, body.record_id is not None]
    if sum(given) != 1:
        raise HTTPException(422, "give exactly one of identifier, pair, record_id")
    kwargs: dict[str, Any] = {"reason": body.reason, "actor": "api"}
    if body.identifier is not None:
        kwargs["identifier"] = _parse_identifier(body.identifier, "identifier")
    elif body.pair is not None:
        kwargs["pair"] = (
            _parse_identifier(body.pair[0], "pair[0]"),
            _parse_identifier(body.pair[1], "pair[1]"),
        )
    else:
        kwargs["record_id"] = body.record_id
    rules = _rules(request)

    def work() -> Any:
        engine = request.app.state.engine
        # A client waits for the answer: its write goes before background work.
        with transaction(engine, urgent=True) as conn:
            _live(conn, contact_id)
            try:
                result = unmerge(conn, rules, **kwargs)
            except (UnknownIdentifier, NoSuchEvidence):
                raise HTTPException(404, "no such identifier or evidence") from None
            state = request.app.state
            announce_splits(conn, state.project, state.registry, result.changes)
            return _jsonable(result)

    return await run_in_threadpool(work)
