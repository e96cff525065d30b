"""spokehub-singer: protocol bridges.

Any Singer tap or Airbyte Python source becomes a source, any Singer target a
destination. Each connector runs as a subprocess from its own virtual environment
(``spokehub bridge install NAME``), so its dependency pins never meet the hub's; the
bridge speaks the protocol on its stdin and stdout. Depends on ``spokehub_contracts``
alone and reaches the hub through the ``spokehub`` entry point.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, Source, hookimpl

from ._airbyte import AirbyteSource
from ._config import (
    AirbyteSourceConfig,
    ConnectorConfig,
    SingerTapConfig,
    SingerTargetConfig,
    SourceBridgeConfig,
)
from ._locate import HOME_ENV, bridge_home, find_executable
from ._mapping import StreamMapping
from ._process import ConnectorExited, ConnectorHung, ConnectorOutputInvalid
from ._tap import SingerTap
from ._target import SingerTarget

__all__ = [
    "HOME_ENV",
    "AirbyteSource",
    "AirbyteSourceConfig",
    "ConnectorConfig",
    "ConnectorExited",
    "ConnectorHung",
    "ConnectorOutputInvalid",
    "SingerTap",
    "SingerTapConfig",
    "SingerTarget",
    "SingerTargetConfig",
    "SourceBridgeConfig",
    "StreamMapping",
    "bridge_home",
    "find_executable",
    "register_destinations",
    "register_sources",
]


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Hand :class:`SingerTap` and :class:`AirbyteSource` to the hub."""
    register(SingerTap)
    register(AirbyteSource)


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`SingerTarget` to the hub."""
    register(SingerTarget)
