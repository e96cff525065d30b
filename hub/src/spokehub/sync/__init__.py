"""The source scheduler: scheduled pulls with checkpoints committed beside their records."""

from .scheduler import Scheduler, SyncStats, load_state, save_state, sync_connection

__all__ = ["Scheduler", "SyncStats", "load_state", "save_state", "sync_connection"]
