"""The source scheduler: scheduled pulls with checkpoints committed beside their records,
one run per connection at a time across every hub process, each run on record."""

from .engine import SyncStats, sync_connection
from .lease import LeaseHeld
from .scheduler import Scheduler
from .state import load_state, save_state

__all__ = ["LeaseHeld", "Scheduler", "SyncStats", "load_state", "save_state", "sync_connection"]
