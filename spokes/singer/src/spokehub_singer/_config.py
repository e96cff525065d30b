"""Configuration of the bridges: which connector, its own config, and the mapping."""

from __future__ import annotations

from typing import Any

from pydantic import SecretStr

from spokehub_contracts import SpokeConfig

from ._locate import find_executable
from ._mapping import StreamMapping
from ._process import Masker


class ConnectorConfig(SpokeConfig):
    """What every bridge needs to run its connector.

    :param connector: the installed connector (``tap-jsonl``), found in its own virtual
        environment under the bridge home (``spokehub bridge install tap-jsonl``).
    :param executable: the program to run: a path, or a name inside the connector's
        environment (``source-faker`` for ``airbyte-source-faker``); defaults to
        ``connector``.
    :param config: the connector's own config, passed to it as its ``--config`` file.
    :param secrets: config keys whose values are secrets (``api_key``); merged into the
        connector's config at run time, masked wherever the connector's output is logged.
    :param timeout_seconds: the longest the connector may stay silent before it is
        stopped and the run fails as hung.
    """

    connector: str | None = None
    executable: str | None = None
    config: dict[str, Any] = {}
    secrets: dict[str, SecretStr] = {}
    timeout_seconds: float = 300.0

    def model_post_init(self, context: Any, /) -> None:
        if not (self.connector or self.executable):
            raise ValueError("connector: name the installed connector, or set executable")
        if self.timeout_seconds <= 0:
            raise ValueError("timeout_seconds: must be a positive number of seconds")
        clash = self.config.keys() & self.secrets.keys()
        if clash:
            raise ValueError(f"secrets: {sorted(clash)} also set under config; keep one")

    def program(self) -> str:
        """The executable's path (see :func:`find_executable`)."""
        return find_executable(self.connector, self.executable)

    def connector_config(self) -> dict[str, Any]:
        """The config the connector reads, secrets included."""
        return {**self.config, **{k: v.get_secret_value() for k, v in self.secrets.items()}}

    def masker(self) -> Masker:
        return Masker([v.get_secret_value() for v in self.secrets.values()])

    @property
    def label(self) -> str:
        return self.connector or str(self.executable)


class SourceBridgeConfig(ConnectorConfig):
    """A bridged source.

    :param streams: the connector's stream name to how its rows become records; only
        these streams are read.
    """

    streams: dict[str, StreamMapping]

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if not self.streams:
            raise ValueError("streams: map at least one of the connector's streams")


class SingerTapConfig(SourceBridgeConfig):
    """A Singer tap.

    :param discover: run ``--discover`` and pass the catalog with only the read stream
        selected (most taps need it); ``false`` runs the tap without a catalog, for taps
        that read every stream unasked.
    :param catalog_flag: ``--catalog`` (Singer SDK taps) or ``--properties`` (older taps).
    """

    discover: bool = True
    catalog_flag: str = "--catalog"

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if self.catalog_flag not in ("--catalog", "--properties"):
            raise ValueError("catalog_flag: must be --catalog or --properties")


class AirbyteSourceConfig(SourceBridgeConfig):
    """An Airbyte Python source (``read`` with a configured catalog)."""


class SingerTargetConfig(ConnectorConfig):
    """A Singer target that receives the hub's changes.

    :param batch_size: most changes per run of the target.
    """

    batch_size: int = 500

    def model_post_init(self, context: Any, /) -> None:
        super().model_post_init(context)
        if self.batch_size <= 0:
            raise ValueError("batch_size: must be a positive number")
