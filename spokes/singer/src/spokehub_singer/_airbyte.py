"""An Airbyte Python source as a source.

The Airbyte protocol: ``spec``, ``check --config``, ``discover --config`` and
``read --config --catalog [--state]``, each printing one JSON message a line. A read runs
the source for one stream with a configured catalog (incremental where the stream
supports it, append), and the per-stream STATE messages become checkpoints after the
records before them; the saved state is that STATE message, handed back as
``--state [message]`` on the next read.

TRACE errors are mapped to the contract's errors by their ``failure_type``:
``config_error`` → :class:`~spokehub_contracts.AuthError` when the source says the
credentials were refused, else :class:`~spokehub_contracts.PermanentError`;
``transient_error`` → :class:`~spokehub_contracts.TransientError`; ``system_error`` (a
bug in the source) → :class:`~spokehub_contracts.PermanentError`. A ``RATE_LIMITED``
stream status is logged and shown in the stream's run record (``stream_status``).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

from spokehub_contracts import (
    AuthError,
    Capabilities,
    CheckResult,
    CheckStatus,
    ConfigError,
    PermanentError,
    RejectedRecord,
    SourceRecord,
    SpokeError,
    StateCheckpoint,
    TransientError,
)

from ._catalogs import discovered
from ._config import AirbyteSourceConfig
from ._mapping import RecordMapper
from ._process import ConnectorExited, ConnectorOutputInvalid, Masker, messages, private_files
from ._tap import _Bridge

logger = logging.getLogger("spokehub_singer")

_AUTH_WORDS = re.compile(r"\b(401|403|unauthori[sz]ed|forbidden|credential|api[ _-]?key)", re.I)
_LOG_LEVELS = {
    "FATAL": logging.CRITICAL,
    "ERROR": logging.ERROR,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "INFO": logging.INFO,
    "DEBUG": logging.DEBUG,
    "TRACE": logging.DEBUG,
}


def trace_error(what: str, error: Mapping[str, Any], mask: Masker) -> SpokeError:
    """The contract's error for an Airbyte TRACE error (see the module's docstring)."""
    failure = str(error.get("failure_type") or "system_error")
    said = mask(str(error.get("message") or error.get("internal_message") or "no message"))
    text = f"{what} reported a {failure}: {said}"
    if failure == "transient_error":
        return TransientError(text)
    if failure == "config_error" and _AUTH_WORDS.search(
        f"{error.get('message', '')} {error.get('internal_message', '')}"
    ):
        return AuthError(text)
    return PermanentError(text)


def _configured(entry: Mapping[str, Any]) -> dict[str, Any]:
    modes = entry.get("supported_sync_modes") or ["full_refresh"]
    incremental = "incremental" in modes
    return {
        "stream": dict(entry),
        "sync_mode": "incremental" if incremental else "full_refresh",
        "destination_sync_mode": "append",
        "cursor_field": list(entry.get("default_cursor_field") or []) if incremental else [],
        "primary_key": entry.get("source_defined_primary_key") or [],
    }


class AirbyteSource(_Bridge):
    """Any Airbyte Python source, run in its own virtual environment, as a source."""

    name: ClassVar[str] = "airbyte_source"
    protocol: ClassVar[str] = "Airbyte source"
    Config: ClassVar[type[AirbyteSourceConfig]] = AirbyteSourceConfig
    description: ClassVar[str] = "any Airbyte Python source (spec/check/discover/read)"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=("person", "account", "event"), incremental=True
    )

    config: AirbyteSourceConfig

    def __init__(self, config: AirbyteSourceConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        #: Each stream's last status reason other than running (``RATE_LIMITED``), as the
        #: source reported it during reads of this instance.
        self.stream_statuses: dict[str, str] = {}

    async def _run(self, command: str, files: Mapping[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """The messages of one command, LOG messages logged, TRACE errors raised as
        contract errors once the source has exited."""
        mask = self.config.masker()
        failure: SpokeError | None = None
        with private_files(files) as paths:
            argv = [self.config.program(), command]
            for name in ("config", "catalog", "state"):
                if name in paths:
                    argv += [f"--{name}", paths[name]]
            try:
                async for message in messages(
                    argv, what=self._what, timeout=self.config.timeout_seconds, mask=mask
                ):
                    kind = message.get("type")
                    if kind == "LOG":
                        log = message.get("log") or {}
                        level = _LOG_LEVELS.get(str(log.get("level", "INFO")).upper(), logging.INFO)
                        logger.log(level, "%s: %s", self._what, mask(str(log.get("message", ""))))
                    elif kind == "TRACE":
                        trace = message.get("trace") or {}
                        if trace.get("type") == "ERROR" and failure is None:
                            failure = trace_error(self._what, trace.get("error") or {}, mask)
                        elif trace.get("type") == "STREAM_STATUS":
                            self._status(trace.get("stream_status") or {})
                    else:
                        yield message
            except ConnectorExited:
                if failure is not None:
                    raise failure from None
                raise
        if failure is not None:
            raise failure

    def _status(self, status: Mapping[str, Any]) -> None:
        name = str((status.get("stream_descriptor") or {}).get("name", "?"))
        for reason in status.get("reasons") or []:
            if reason.get("type") == "RATE_LIMITED":
                resets = (reason.get("rate_limited") or {}).get("quota_reset")
                if isinstance(resets, int | float):  # epoch milliseconds in the protocol
                    resets = datetime.fromtimestamp(resets / 1000, UTC).isoformat()
                note = "RATE_LIMITED" + (f" (quota resets at {resets})" if resets else "")
                self.stream_statuses[name] = note
                logger.warning("%s: stream %r is %s", self._what, name, note)

    def stream_status(self, stream: str) -> str | None:
        """``RATE_LIMITED (quota resets at …)`` when the source said so during the last
        read of ``stream``; the hub shows it in the run record."""
        return self.stream_statuses.get(stream)

    async def spec(self) -> dict[str, Any]:
        """The source's SPEC: the JSON schema of its config."""
        found: dict[str, Any] | None = None
        async for message in self._run("spec", {}):
            if message.get("type") == "SPEC" and found is None:
                found = dict(message.get("spec") or {})
        if found is not None:
            return found
        raise ConnectorOutputInvalid(f"{self._what} printed invalid output: spec gave no SPEC")

    async def _catalog(self) -> list[dict[str, Any]]:
        program, config = self.config.program(), self.config.connector_config()
        return await discovered(program, config, self._discover)

    async def _discover(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] | None = None
        async for message in self._run("discover", {"config": self.config.connector_config()}):
            if message.get("type") == "CATALOG" and found is None:
                streams = (message.get("catalog") or {}).get("streams")
                if isinstance(streams, list):
                    found = streams
        if found is not None:
            return found
        raise ConnectorOutputInvalid(
            f"{self._what} printed invalid output: discover gave no CATALOG with streams"
        )

    async def check(self) -> CheckResult:
        """The source's own ``check``, then that every mapped stream is discovered.
        Refused credentials are told apart from other config errors by the source's
        message."""
        try:
            status: dict[str, Any] = {}
            async for message in self._run("check", {"config": self.config.connector_config()}):
                if message.get("type") == "CONNECTION_STATUS":
                    status = message.get("connectionStatus") or {}
            if status.get("status") != "SUCCEEDED":
                said = self.config.masker()(str(status.get("message") or "check failed"))
                bad = (
                    CheckStatus.AUTH_ERROR if _AUTH_WORDS.search(said) else CheckStatus.CONFIG_ERROR
                )
                return CheckResult(status=bad, message=f"{self._what}: {said}")
            names = {s.get("name") for s in await self._catalog()}
        except ConfigError as exc:
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message=str(exc))
        except AuthError as exc:
            return CheckResult(status=CheckStatus.AUTH_ERROR, message=str(exc))
        except PermanentError as exc:
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message=str(exc))
        except SpokeError as exc:
            return CheckResult(status=CheckStatus.UNREACHABLE, message=str(exc))
        missing = [s for s in self.config.streams if s not in names]
        if missing:
            return CheckResult(
                status=CheckStatus.CONFIG_ERROR,
                message=f"{self._what} offers no stream {missing}; it offers {sorted(names)}",
            )
        return CheckResult(status=CheckStatus.OK, message=f"{self._what}: connection succeeded")

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        """Run ``read`` for ``stream`` from ``state`` (the stream's last STATE message)."""
        spec = self._mapping(stream)
        self.stream_statuses.pop(stream, None)
        entry = next((s for s in await self._catalog() if s.get("name") == stream), None)
        if entry is None:
            raise ConfigError(f"streams.{stream}", f"{self._what} offers no stream {stream!r}")
        configured = _configured(entry)
        key = ["".join(str(p) for p in path) for path in configured["primary_key"] if path]
        mapper = RecordMapper(stream, spec, key)
        files: dict[str, Any] = {
            "config": self.config.connector_config(),
            "catalog": {"streams": [configured]},
        }
        if state:
            files["state"] = [dict(state)]
        number = 0
        async for message in self._run("read", files):
            kind = message.get("type")
            if kind == "RECORD":
                record = message.get("record") or {}
                if record.get("stream") != stream:
                    continue
                number += 1
                row = record.get("data")
                if not isinstance(row, dict):
                    raise ConnectorOutputInvalid(
                        f"{self._what} printed invalid output: RECORD {number} of {stream!r} "
                        "holds no data object"
                    )
                yield mapper.map(row, f"{stream}:record {number}")
            elif kind == "STATE":
                value = message.get("state")
                if not isinstance(value, dict):
                    raise ConnectorOutputInvalid(
                        f"{self._what} printed invalid output: a STATE message without state"
                    )
                described = ((value.get("stream") or {}).get("stream_descriptor") or {}).get("name")
                if value.get("type") == "STREAM" and described not in (None, stream):
                    continue
                yield StateCheckpoint(stream=stream, state=value)
