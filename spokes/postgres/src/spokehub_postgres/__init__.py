"""spokehub-postgres: PostgreSQL on both sides of the hub.

As a destination it keeps the hub's truth in warehouse tables named by the data contract's
rules, so BI reads what marketing sees; as a source it reads tables into the hub. Depends
on ``spokehub-contracts`` and ``psycopg``, and reaches the hub through the ``spokehub``
entry point, which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, hookimpl

from ._config import PostgresConfig
from ._destination import PostgresDestination

__all__ = ["PostgresConfig", "PostgresDestination", "register_destinations"]


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`PostgresDestination` to the hub."""
    register(PostgresDestination)
