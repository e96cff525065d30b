"""The files source: CSV and JSON Lines files read incrementally by byte offset."""

from __future__ import annotations

import asyncio
import glob
import logging
import os
import re
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any, ClassVar

from spokehub_contracts import (
    Capabilities,
    CheckResult,
    CheckStatus,
    ConfigError,
    RejectedRecord,
    Source,
    SourceRecord,
    StateCheckpoint,
    Stream,
    TransientError,
)

from ._config import MODEL_BY_KIND, FilesSourceConfig, StreamConfig
from ._mapping import Problem, RowInvalid, RowMapper
from ._reader import FileReader, RowError

logger = logging.getLogger("spokehub_files")

_MAGIC = re.compile(r"[*?[]")


@dataclass(frozen=True, slots=True)
class _Mapped:
    """A row as it leaves the worker thread: its record, or the problems that kept it out.
    ``line`` is only looked up (0 otherwise) when there are problems to report."""

    end: int
    line: int
    record: SourceRecord | None
    problems: list[Problem]
    raw: dict[str, Any] | None = None


def match_files(pattern: str) -> list[str]:
    """The regular files ``pattern`` names now, sorted; relative to the working directory.

    The paths are returned as the pattern spells them (``data/orders-1.csv``), which keeps
    the saved state readable and independent of where the project directory lives.
    """
    return sorted(p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p))


def pattern_directory(pattern: str) -> Path:
    """The deepest directory of ``pattern`` that has no wildcard in it."""
    path = Path(pattern)
    if not _MAGIC.search(pattern):
        return path.parent
    fixed = list(_take_while_fixed(path.parts))
    return Path(*fixed) if fixed else Path(".")


def _take_while_fixed(parts: Sequence[str]) -> Iterator[str]:
    for part in parts:
        if _MAGIC.search(part):
            return
        yield part


def _offsets(stream: str, state: Mapping[str, Any] | None) -> dict[str, int]:
    if not state:
        return {}
    files = state.get("files", {})
    if not isinstance(files, Mapping) or not all(
        isinstance(path, str) and isinstance(offset, int) and offset >= 0
        for path, offset in files.items()
    ):
        raise ConfigError(
            f"state of stream {stream!r}",
            'must look like {"files": {"<path>": <byte offset>}}; '
            "reset the stream's state to read every file again",
        )
    return dict(files)


def _mapped_rows(reader: FileReader, mapper: RowMapper) -> Iterator[_Mapped]:
    for row in reader.rows():
        record: SourceRecord | None = None
        problems: list[Problem] = []
        if row.problem:
            problems.append((*row.problem, None))
        elif row.values is not None:
            try:
                record = mapper.map(row.values)
            except RowInvalid as exc:
                problems = exc.problems
        line = reader.line_number(row.rel_line) if problems else 0
        raw = dict(row.values) if problems and row.values is not None else None
        yield _Mapped(row.end, line, record, problems, raw)


def _take(rows: Iterator[_Mapped], count: int) -> list[_Mapped]:
    return list(islice(rows, count))


class FilesSource(Source):
    """Reads CSV and JSON Lines files; each configured stream is a file or a glob pattern.

    Reading is incremental. The state of a stream is ``{"files": {"<path>": <offset>}}``:
    for every file seen, the byte offset just past the last row read. Files are read in
    sorted order, each from its saved offset, so a file that grew is continued and a
    finished file costs nothing. A file shorter than its offset was replaced and is read
    again from the start.

    A row that cannot become a valid record does not stop the read and is not yielded:
    it is appended to :attr:`errors` (file, line, field, rule; never the value), logged
    as a warning, and the offset moves past it like past any other row.
    """

    name: ClassVar[str] = "files"
    Config: ClassVar[type[FilesSourceConfig]] = FilesSourceConfig
    description: ClassVar[str] = "CSV and JSON Lines files, read incrementally"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=tuple(MODEL_BY_KIND), incremental=True
    )

    config: FilesSourceConfig

    def __init__(self, config: FilesSourceConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        #: Rows left out of the records, oldest first, for every read of this instance.
        #: The hub may drain it (``errors.clear()``) after storing them.
        self.errors: list[RowError] = []

    async def streams(self) -> Sequence[Stream]:
        """One stream per configured entry, all incremental."""
        return [
            Stream(
                name=s.name,
                kind=s.kind,
                incremental=True,
                description=f"{s.file_format} files matching {s.path}",
            )
            for s in self.config.streams
        ]

    async def check(self) -> CheckResult:
        """OK when every stream's path matches a readable file, or at least names a
        directory that exists (its files may not have arrived yet); ``CONFIG_ERROR``
        naming each stream that fails otherwise."""
        problems = await asyncio.to_thread(self._problems)
        if problems:
            return CheckResult(status=CheckStatus.CONFIG_ERROR, message="; ".join(problems))
        return CheckResult(
            status=CheckStatus.OK, message=f"{len(self.config.streams)} stream(s) ready"
        )

    def _problems(self) -> list[str]:
        problems: list[str] = []
        for stream in self.config.streams:
            files = match_files(stream.path)
            if any(os.access(path, os.R_OK) for path in files):
                continue
            if files:
                problems.append(
                    f"stream {stream.name!r}: files match {stream.path} but none is readable"
                )
                continue
            directory = pattern_directory(stream.path)
            if not directory.is_dir():
                problems.append(
                    f"stream {stream.name!r}: no file matches {stream.path} and the "
                    f"directory {directory} does not exist"
                )
        return problems

    async def read(
        self, stream: str, state: Mapping[str, Any] | None
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        """Yield the records of ``stream`` after ``state``, with checkpoints.

        A checkpoint follows every ``checkpoint_every`` records and the end of each file
        whose offset moved. Its state covers every file seen, so the last one is the state
        to resume from. With the final state of a run, a new run yields nothing until a
        file grows or a new one appears.

        :raises ConfigError: for an unknown stream or a state of the wrong shape.
        :raises TransientError: when a file exists but cannot be read.
        """
        config = self._stream(stream)
        mapper = RowMapper(config)
        offsets = _offsets(stream, state)
        for path in await asyncio.to_thread(match_files, config.path):
            try:
                size = os.path.getsize(path)
            except FileNotFoundError:
                continue  # moved away since the glob: nothing left to read
            start = offsets.get(path, 0)
            if start > size:
                logger.warning(
                    "stream %r: %s is shorter than its saved offset, so it was replaced; "
                    "reading it again from the start",
                    stream,
                    path,
                )
                start = 0
            if start == size:
                continue
            async for item in self._read_file(config, mapper, path, start, offsets):
                yield item

    async def _read_file(
        self,
        config: StreamConfig,
        mapper: RowMapper,
        path: str,
        start: int,
        offsets: dict[str, int],
    ) -> AsyncIterator[SourceRecord | StateCheckpoint | RejectedRecord]:
        """One file from ``start``; updates ``offsets[path]`` at each checkpoint."""
        every = self.config.checkpoint_every
        rows = _mapped_rows(FileReader(path, config.file_format, start, config.delimiter), mapper)
        offset = checkpointed = start
        since_checkpoint = 0
        try:
            # The file is read and mapped in a worker thread, a checkpoint's worth at a
            # time, so a large file does not hold up the hub's event loop.
            while batch := await asyncio.to_thread(_take, rows, every):
                for row in batch:
                    offset = row.end
                    for field, rule, column in row.problems:
                        self._reject(RowError(config.name, path, row.line, field, rule, column))
                    if row.problems:
                        # The hub keeps the row in quarantine with its reasons.
                        first = row.problems[0]
                        yield RejectedRecord(
                            stream=config.name,
                            location=f"{path}:{row.line}",
                            field=first[0],
                            rule="; ".join(f"{f}: {r}" for f, r, _ in row.problems),
                            raw=row.raw,
                        )
                    if row.record is None:
                        continue
                    yield row.record
                    since_checkpoint += 1
                    if since_checkpoint >= every:
                        offsets[path] = checkpointed = offset
                        since_checkpoint = 0
                        yield StateCheckpoint(stream=config.name, state={"files": dict(offsets)})
        except FileNotFoundError:
            pass  # removed while being read; what was read stands
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise TransientError(f"stream {config.name!r}: cannot read {path}: {reason}") from None
        finally:
            rows.close()
        if offset != checkpointed:
            offsets[path] = offset
            yield StateCheckpoint(stream=config.name, state={"files": dict(offsets)})

    def _stream(self, name: str) -> StreamConfig:
        for stream in self.config.streams:
            if stream.name == name:
                return stream
        known = ", ".join(s.name for s in self.config.streams)
        raise ConfigError("stream", f"no stream named {name!r}; this connection has {known}")

    def _reject(self, error: RowError) -> None:
        self.errors.append(error)
        logger.warning("stream %r: row skipped: %s", error.stream, error)
