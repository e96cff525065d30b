"""spokehub-files: CSV and JSON Lines files as a source, a JSON Lines file as a destination.

The reference spoke. It depends on ``spokehub_contracts`` and the standard library only,
and reaches the hub through the ``spokehub`` entry point, which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, Source, hookimpl

from ._config import FilesDestinationConfig, FilesSourceConfig, StreamConfig
from ._destination import FilesDestination
from ._reader import RowError
from ._source import FilesSource

__all__ = [
    "FilesDestination",
    "FilesDestinationConfig",
    "FilesSource",
    "FilesSourceConfig",
    "RowError",
    "StreamConfig",
    "register_destinations",
    "register_sources",
]


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Hand :class:`FilesSource` to the hub."""
    register(FilesSource)


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`FilesDestination` to the hub."""
    register(FilesDestination)
