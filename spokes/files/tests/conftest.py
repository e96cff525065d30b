"""Shared fixtures: a scratch working directory, a source builder and a read helper."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from spokehub_contracts import RejectedRecord, SourceRecord, StateCheckpoint
from spokehub_files import FilesSource, FilesSourceConfig


@dataclass
class Run:
    """What one ``read()`` yielded."""

    everything: list[SourceRecord | StateCheckpoint | RejectedRecord]

    @property
    def items(self) -> list[SourceRecord | StateCheckpoint]:
        """Records and checkpoints, in order (rejected rows left out)."""
        return [i for i in self.everything if not isinstance(i, RejectedRecord)]

    @property
    def rejected(self) -> list[RejectedRecord]:
        return [i for i in self.everything if isinstance(i, RejectedRecord)]

    @property
    def records(self) -> list[SourceRecord]:
        return [item for item in self.items if isinstance(item, SourceRecord)]

    @property
    def checkpoints(self) -> list[StateCheckpoint]:
        return [item for item in self.items if isinstance(item, StateCheckpoint)]

    @property
    def state(self) -> dict[str, Any] | None:
        """The state to resume from: the last checkpoint's, if any."""
        return self.checkpoints[-1].state if self.checkpoints else None


ReadAll = Callable[..., Awaitable[Run]]
MakeSource = Callable[..., FilesSource]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working directory, so that relative stream paths resolve inside it."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture
def read_all() -> ReadAll:
    """``await read_all(source, stream="s", state=None)``: drain one read into a Run."""

    async def drain(
        source: FilesSource, stream: str = "s", state: Mapping[str, Any] | None = None
    ) -> Run:
        return Run([item async for item in source.read(stream, state)])

    return drain


@pytest.fixture
def make_source() -> MakeSource:
    """``make_source(checkpoint_every=500, **stream)``: a source with one stream, named
    ``s`` unless ``name`` is given."""

    def build(checkpoint_every: int = 500, **stream: Any) -> FilesSource:
        stream.setdefault("name", "s")
        config = FilesSourceConfig(streams=[stream], checkpoint_every=checkpoint_every)
        return FilesSource(config, connection="test")

    return build
