"""The files destination: every change appended as one JSON line to one file."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import BinaryIO, ClassVar, get_args

from spokehub_contracts import (
    Capabilities,
    Change,
    ChangeKind,
    Delivered,
    Destination,
    Forget,
    Identifier,
    Outcome,
    Rejected,
    TransientError,
    utcnow,
)

from ._config import FilesDestinationConfig

logger = logging.getLogger("spokehub_files")

_CHUNK = 1 << 20

#: An identifier as stored in a line: ``(type, value)``.
_Key = tuple[str, str]


def _fsync_directory(directory: Path) -> None:
    # A new or renamed file survives a crash only once its directory entry is on disk.
    # Not every platform lets a directory be opened; there is nothing more to do there.
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _count_lines(f: BinaryIO) -> int:
    """Lines in ``f`` (an unterminated last line counts); leaves the position at the end."""
    f.seek(0)
    count = 0
    last = b"\n"
    while chunk := f.read(_CHUNK):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    return count if last == b"\n" else count + 1


def _line_keys(line: bytes) -> tuple[set[_Key], str | None] | None:
    """The identifiers and contact ID of a delivered line; ``None`` if it is not one."""
    try:
        value = json.loads(line)
    except ValueError:
        return None
    if not isinstance(value, dict):
        return None
    keys: set[_Key] = set()
    for identifier in value.get("identifiers") or ():
        if isinstance(identifier, dict):
            keys.add((str(identifier.get("type")), str(identifier.get("value"))))
    contact = value.get("contact_id")
    return keys, contact if isinstance(contact, str) else None


class FilesDestination(Destination):
    """Appends the hub's changes to a JSON Lines file, one line per change.

    A line is the change's JSON form (``model_dump(mode="json")``) plus ``delivered_at``;
    each delivered item's ``external_id`` is ``<path>:<line number>``. Every write is
    flushed and fsynced before it is reported delivered. A ``forget`` change, like
    :meth:`forget`, erases the person's lines rather than adding one, since a line naming
    the erased identifiers would keep exactly the data the erasure is meant to remove. A
    ``merge`` change is a line like any other (``contact_id`` the survivor,
    ``absorbed_contact_id`` the contact it absorbed): the file is a log, and a reader
    folds the absorbed contact's earlier lines into the survivor from there on.
    """

    name: ClassVar[str] = "files"
    Config: ClassVar[type[FilesDestinationConfig]] = FilesDestinationConfig
    description: ClassVar[str] = "a JSON Lines file, one line per change"
    capabilities: ClassVar[Capabilities] = Capabilities(
        record_kinds=get_args(ChangeKind), batch_size=500, can_delete=True, merges=True
    )

    config: FilesDestinationConfig

    def __init__(self, config: FilesDestinationConfig, *, connection: str = "") -> None:
        super().__init__(config, connection=connection)
        self._path = Path(config.path)
        # Writes and rewrites of one file must not interleave.
        self._lock = asyncio.Lock()
        # (inode, size, lines) after this instance's last append, so that the next one
        # need not count the lines of a large file again.
        self._known: tuple[int, int, int] | None = None

    async def write(self, batch: Sequence[Change]) -> Sequence[Outcome]:
        """Append every change of ``batch`` and answer one outcome per item.

        :raises TransientError: when the file cannot be written (the whole batch is
            retried; no outcome is reported for a partial write).
        """
        async with self._lock:
            try:
                return await asyncio.to_thread(self._write, list(batch))
            except OSError as exc:
                raise self._failure("write", exc) from None

    async def forget(self, identifiers: Sequence[Identifier]) -> Outcome:
        """Rewrite the file without every line that carries one of ``identifiers``, or
        that belongs to the same contact as such a line. Answers ``Delivered`` with
        ``item_id="forget"``."""
        async with self._lock:
            try:
                await asyncio.to_thread(
                    self._erase, {(i.type, i.value) for i in identifiers}, set()
                )
            except OSError as exc:
                raise self._failure("erase from", exc) from None
        return Delivered(item_id="forget")

    def _failure(self, action: str, exc: OSError) -> TransientError:
        return TransientError(
            f"cannot {action} {self.config.path}: {exc.strerror or type(exc).__name__}"
        )

    def _write(self, batch: list[Change]) -> list[Outcome]:
        outcomes: list[Outcome] = []
        pending: list[tuple[str, bytes]] = []
        delivered_at = utcnow().isoformat()
        for change in batch:
            if isinstance(change, Forget):
                # Lines already in this batch belong to the file before the erasure runs.
                outcomes.extend(self._append(pending))
                pending = []
                contacts = {change.contact_id} if change.contact_id else set()
                self._erase({(i.type, i.value) for i in change.identifiers}, contacts)
                outcomes.append(Delivered(item_id=change.item_id))
                continue
            try:
                line = json.dumps(
                    {**change.model_dump(mode="json"), "delivered_at": delivered_at},
                    ensure_ascii=False,
                )
            except (TypeError, ValueError) as exc:
                reason = f"cannot be written as JSON ({type(exc).__name__})"
                outcomes.append(Rejected(item_id=change.item_id, reason=reason))
                continue
            pending.append((change.item_id, line.encode("utf-8") + b"\n"))
        outcomes.extend(self._append(pending))
        return outcomes

    def _append(self, items: list[tuple[str, bytes]]) -> list[Outcome]:
        if not items:
            return []
        self._path.parent.mkdir(parents=True, exist_ok=True)
        created = not self._path.exists()
        with open(self._path, "a+b") as f:
            info = os.fstat(f.fileno())
            known = self._known
            if known and known[:2] == (info.st_ino, info.st_size):
                lines = known[2]
            else:
                lines = _count_lines(f)
            # A crash in the middle of an earlier append can leave a line without its
            # newline; end it, so that the new lines stay one JSON value each.
            prefix = b""
            if info.st_size:
                f.seek(info.st_size - 1)
                if f.read(1) != b"\n":
                    prefix = b"\n"
            f.write(prefix + b"".join(line for _, line in items))
            f.flush()
            os.fsync(f.fileno())
            self._known = (info.st_ino, os.fstat(f.fileno()).st_size, lines + len(items))
        if created:
            _fsync_directory(self._path.parent)
        return [
            Delivered(item_id=item_id, external_id=f"{self.config.path}:{lines + n}")
            for n, (item_id, _) in enumerate(items, start=1)
        ]

    def _erase(self, identifiers: set[_Key], contacts: set[str]) -> int:
        """Remove matching lines; returns how many. Lines that are not JSON are kept."""
        if not (identifiers or contacts) or not self._path.exists():
            return 0
        # First pass: the contacts of lines that carry one of the identifiers, so that a
        # contact's lines holding other identifiers (an anonymous ID) go as well.
        given = set(contacts)
        contacts = set(contacts)
        matched = False
        for keys, contact in self._keyed_lines():
            if keys & identifiers:
                matched = True
                if contact:
                    contacts.add(contact)
            elif contact in given:
                matched = True
        if not matched:
            logger.info("forget: removed 0 line(s) from %s", self.config.path)
            return 0

        def doomed(line: bytes) -> bool:
            found = _line_keys(line)
            if found is None:
                return False
            keys, contact = found
            return bool(keys & identifiers) or (contact is not None and contact in contacts)

        removed = 0
        mode = stat.S_IMODE(self._path.stat().st_mode)
        fd, temp = tempfile.mkstemp(dir=self._path.parent, prefix=f".{self._path.name}.")
        try:
            with os.fdopen(fd, "wb") as out, open(self._path, "rb") as src:
                for line in src:
                    if doomed(line):
                        removed += 1
                    else:
                        out.write(line)
                out.flush()
                os.fsync(out.fileno())
            if removed:
                os.chmod(temp, mode)
                os.replace(temp, self._path)
                _fsync_directory(self._path.parent)
                self._known = None
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
        # Counts only: the identifiers themselves are personal data.
        logger.info("forget: removed %d line(s) from %s", removed, self.config.path)
        return removed

    def _keyed_lines(self) -> Iterator[tuple[set[_Key], str | None]]:
        with open(self._path, "rb") as f:
            for line in f:
                found = _line_keys(line)
                if found is not None:
                    yield found
