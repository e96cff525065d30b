"""spokehub-postgres: PostgreSQL on both sides of the hub.

As a destination it keeps the hub's truth in warehouse tables named by the data contract's
rules, so BI reads what marketing sees; as a source it reads tables into the hub. Depends
on ``spokehub-contracts`` and ``psycopg``, and reaches the hub through the ``spokehub``
entry point, which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, Source, hookimpl

from ._config import PostgresConfig
from ._destination import PostgresDestination
from ._source import PostgresSource
from ._source_config import PostgresSourceConfig, SourceStream

__all__ = [
    "PostgresConfig",
    "PostgresDestination",
    "PostgresSource",
    "PostgresSourceConfig",
    "SourceStream",
    "register_destinations",
    "register_sources",
]


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`PostgresDestination` to the hub."""
    register(PostgresDestination)


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Hand :class:`PostgresSource` to the hub."""
    register(PostgresSource)
