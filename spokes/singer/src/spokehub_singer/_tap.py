"""A Singer tap as a source.

Each read runs the tap once for one stream: ``--config``, ``--state`` (the tap's last
STATE the hub committed for that stream) and the discovered catalog with only that
stream selected. Its RECORD messages become records through the stream's mapping; each
STATE message becomes a :class:`~spokehub_contracts.StateCheckpoint` after the records
before it, so the hub commits the tap's state in the same transaction as those records.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any, ClassVar

from spokehub_contracts import (
    Capabilities,
    CheckResult,
    CheckStatus,
    ConfigError,
    RejectedRecord,
    Source,
    SourceRecord,
    SpokeError,
    StateCheckpoint,
    Stream,
)

from ._catalogs import discovered
from ._config import SingerTapConfig, SourceBridgeConfig
from ._mapping import RecordMapper
from ._process import ConnectorOutputInvalid, document, messages, private_files


class _Bridge(Source):
    """What the Singer and Airbyte source bridges share."""

    config: SourceBridgeConfig
    protocol: ClassVar[str] = ""

    @property
    def _what(self) -> str:
        return f"{self.protocol} {self.config.label}"

    async def streams(self) -> Sequence[Stream]:
        """The mapped streams, in the order the connection lists them."""
        return [
            Stream(
                name=name,
                kind=spec.kind,
                incremental=True,
                description=f"{self._what} stream {name!r} as {spec.kind} records",
            )
            for name, spec in self.config.streams.items()
        ]

    def _mapping(self, stream: str) -> Any:
        spec = self.config.streams.get(stream)
        if spec is None:
            known = ", ".join(self.config.streams)
            raise ConfigError("streams", f"no stream named {stream!r} is mapped; mapped: {known}")
        return spec


def _select(catalog: Mapping[str, Any], stream: str) -> dict[str, Any]:
    """``catalog`` with only ``stream`` selected, in both the metadata breadcrumb that
    Singer SDK taps read and the legacy top-level ``selected`` flag."""
    chosen = copy.deepcopy(dict(catalog))
    found = False
    for entry in chosen.get("streams", []):
        name = entry.get("tap_stream_id") or entry.get("stream")
        selected = name == stream
        found = found or selected
        entry["selected"] = selected
        metadata = entry.setdefault("metadata", [])
        top = next((m for m in metadata if m.get("breadcrumb") == []), None)
        if top is None:
            top = {"breadcrumb": [], "metadata": {}}
            metadata.append(top)
        top.setdefault("metadata", {})["selected"] = selected
    if not found:
        names = [e.get("tap_stream_id") or e.get("stream") for e in chosen.get("streams", [])]
        raise ConfigError(
            f"streams.{stream}", f"the tap offers no stream {stream!r}; it offers {names}"
        )
    return chosen


class SingerTap(_Bridge):
    """Any Singer tap, run in its own virtual environment, as a source."""

    name: ClassVar[str] = "singer_tap"
    protocol: ClassVar[str] = "tap"
    Config: ClassVar[type[SingerTapConfig]] = SingerTapConfig
    description: ClassVar[str] = "any Singer tap as a source (SCHEMA/RECORD/STATE over stdout)"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("person", "account", "event"), incremental=True
    )

    config: SingerTapConfig

    async def check(self) -> CheckResult:
        """OK when the tap is installed and discovers every mapped stream; a tap that
        fails discovery is reported with its own last words (redacted)."""
        try:
            catalog = await self._discover()
        except ConfigError as exc:
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message=str(exc))
        except SpokeError as exc:
            return CheckResult(status=CheckStatus.UNREACHABLE, message=str(exc))
        if catalog is None:
            return CheckResult(status=CheckStatus.OK, message=f"{self._what} is installed")
        try:
            for stream in self.config.streams:
                _select(catalog, stream)
        except ConfigError as exc:
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message=str(exc))
        return CheckResult(
            status=CheckStatus.OK,
            message=f"{self._what} offers {len(catalog.get('streams', []))} stream(s)",
        )

    async def _discover(self) -> dict[str, Any] | None:
        program = self.config.program()
        if not self.config.discover:
            return None
        return await discovered(program, self.config.connector_config(), self._run_discover)

    async def _run_discover(self) -> dict[str, Any]:
        program = self.config.program()
        with private_files({"config": self.config.connector_config()}) as files:
            catalog = await document(
                [program, "--config", files["config"], "--discover"],
                what=self._what,
                timeout=self.config.timeout_seconds,
                mask=self.config.masker(),
            )
        if not isinstance(catalog, dict) or not isinstance(catalog.get("streams"), list):
            raise ConnectorOutputInvalid(
                f"{self._what} printed invalid output: --discover gave no catalog with streams"
            )
        return catalog

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        """Run the tap for ``stream`` from ``state`` (the tap's own STATE value).

        :raises ConnectorOutputInvalid: the tap printed a line that is not a message.
        :raises ConnectorHung: the tap was silent past ``timeout_seconds``.
        :raises ConnectorExited: the tap exited non-zero.
        """
        spec = self._mapping(stream)
        catalog = await self._discover()
        files: dict[str, Any] = {"config": self.config.connector_config()}
        if catalog is not None:
            files["catalog"] = _select(catalog, stream)
        if state:
            files["state"] = dict(state)
        mapper = RecordMapper(stream, spec)
        with private_files(files) as paths:
            argv = [self.config.program(), "--config", paths["config"]]
            if "catalog" in paths:
                argv += [self.config.catalog_flag, paths["catalog"]]
            if "state" in paths:
                argv += ["--state", paths["state"]]
            number = 0
            async for message in messages(
                argv,
                what=self._what,
                timeout=self.config.timeout_seconds,
                mask=self.config.masker(),
            ):
                kind = message.get("type")
                if kind == "SCHEMA" and message.get("stream") == stream:
                    mapper = RecordMapper(stream, spec, message.get("key_properties") or ())
                elif kind == "RECORD" and message.get("stream") == stream:
                    number += 1
                    row = message.get("record")
                    if not isinstance(row, dict):
                        raise ConnectorOutputInvalid(
                            f"{self._what} printed invalid output: RECORD {number} of "
                            f"{stream!r} holds no record object"
                        )
                    yield mapper.map(row, f"{stream}:record {number}")
                elif kind == "STATE":
                    value = message.get("value")
                    if not isinstance(value, dict):
                        raise ConnectorOutputInvalid(
                            f"{self._what} printed invalid output: a STATE message "
                            "without an object value"
                        )
                    yield StateCheckpoint(stream=stream, state=value)
