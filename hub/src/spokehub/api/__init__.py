"""The hub's HTTP API: ingestion, webhooks, profiles, health and metrics."""

from .app import create_app

__all__ = ["create_app"]
