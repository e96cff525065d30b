"""The pipeline: inbox → validate → transform → resolve → profile → route → outbox."""

from .quarantine import QuarantinedRecord, list_quarantine, replay
from .routing import Router, Target
from .violations import RecordRejected
from .worker import BatchStats, Pipeline

__all__ = [
    "BatchStats",
    "Pipeline",
    "QuarantinedRecord",
    "RecordRejected",
    "Router",
    "Target",
    "list_quarantine",
    "replay",
]
