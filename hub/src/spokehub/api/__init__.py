"""The hub's HTTP API: ingestion, webhooks, profiles, delivery lanes, health and metrics."""

from .app import create_app

__all__ = ["create_app"]
