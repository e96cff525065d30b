"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from sqlalchemy import Engine

from .. import __version__
from ..config import Project
from ..ingest import IngestSettings
from ..ingest.backpressure import Backpressure
from ..ingest.group import GroupWriter
from ..registry import Registry
from . import (
    audiences,
    consent,
    deliveries,
    health,
    ingestion,
    privacy,
    profiles,
    scrape,
    syncs,
    webhooks,
)
from .auth import SECURITY_SCHEME
from .cors import install_cors
from .errors import install_error_handlers
from .metrics import Metrics


def create_app(
    project: Project,
    registry: Registry,
    engine: Engine,
    *,
    settings: IngestSettings | None = None,
    wake: Callable[[], None] | None = None,
) -> FastAPI:
    """Build the hub's HTTP API over a migrated store.

    :param settings: ingestion limits and the de-duplication window (by default Segment's
        limits and the project's ``server.dedup_window_hours``).
    :param wake: called after new inbox rows commit, so a pipeline worker in the same
        process starts at once instead of at its next poll.
    """
    app = FastAPI(
        title="spokehub",
        version=__version__,
        description=(
            "Segment-compatible ingestion, webhooks, and the profile API of the spokehub hub."
        ),
    )
    app.state.project = project
    app.state.registry = registry
    app.state.engine = engine
    app.state.settings = settings or IngestSettings(
        dedup_window=project.server.dedup_window_hours * 3600.0
    )
    limits = project.server.backpressure
    app.state.backpressure = Backpressure(
        engine,
        max_pending=limits.max_pending,
        min_free_bytes=None if limits.min_free_disk_mb is None else limits.min_free_disk_mb << 20,
        retry_after=limits.retry_after_seconds,
        interval=limits.check_interval_ms / 1000.0,
    )
    app.state.metrics = Metrics(engine, app.state.backpressure)
    # SQLite has one writer: concurrent requests commit together (group commit).
    app.state.inbox_writer = GroupWriter(engine) if engine.dialect.name == "sqlite" else None
    app.state.wake = wake or (lambda: None)
    app.state.accepting = True
    app.state.webhook_spokes = {}
    install_error_handlers(app)
    install_cors(app, project.server)
    app.include_router(ingestion.router)
    app.include_router(webhooks.router)
    app.include_router(profiles.router)
    app.include_router(consent.router)
    app.include_router(privacy.router)
    app.include_router(deliveries.router)
    app.include_router(audiences.router)
    app.include_router(syncs.router)
    app.include_router(health.router)
    app.include_router(scrape.router)
    _declare_security(app)
    return app


def _declare_security(app: FastAPI) -> None:
    """Name the bearer scheme the scoped routes' ``security`` refers to in the OpenAPI
    document (FastAPI adds schemes only for its own security dependencies)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()  # cached by FastAPI; the scheme is set in place, idempotently
        schemes = schema.setdefault("components", {}).setdefault("securitySchemes", {})
        schemes[SECURITY_SCHEME] = {
            "type": "http",
            "scheme": "bearer",
            "description": "an API token; each operation names the scope it needs",
        }
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
