"""Running a connector as a subprocess and reading its JSON messages, one per line.

What a bridge owes the hub whatever the protocol: the connector's stderr goes to the
log line by line with secrets and personal data masked; a connector that prints a line
that is not a JSON object, falls silent past the timeout, or exits non-zero ends the
read with an error that says which of the three and why, and the process is never left
running behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from spokehub_contracts import MASK, PermanentError, TransientError, redact

logger = logging.getLogger("spokehub_singer")

#: Longest line read from a connector: a record of a wide table is large, not endless.
_LINE_LIMIT = 64 * 1024 * 1024
#: stderr lines kept for the error message of a connector that failed.
_TAIL = 8


class ConnectorHung(TransientError):
    """The connector printed nothing for longer than the timeout; it was stopped."""


class ConnectorExited(TransientError):
    """The connector exited with a non-zero code."""


class ConnectorOutputInvalid(PermanentError):
    """The connector printed a line on stdout that is not a JSON message."""


class Masker:
    """Masks the values of a connection's secrets, then whatever :func:`redact` finds."""

    def __init__(self, secrets: Sequence[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, MASK)
        return redact(text)


@contextlib.contextmanager
def private_files(files: Mapping[str, Any]) -> Iterator[dict[str, str]]:
    """JSON files (config, state, catalog) in a folder only this user can read, removed
    after use: a tap's config holds its credentials."""
    with tempfile.TemporaryDirectory(prefix="spokehub-bridge-") as folder:
        os.chmod(folder, 0o700)
        paths: dict[str, str] = {}
        for name, value in files.items():
            path = Path(folder) / f"{name}.json"
            path.write_text(json.dumps(value, default=str), encoding="utf-8")
            path.chmod(0o600)
            paths[name] = str(path)
        yield paths


async def messages(
    argv: Sequence[str],
    *,
    what: str,
    timeout: float,
    mask: Masker,
    stdin: bytes | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """Run ``argv`` and yield each JSON object it prints on stdout.

    :param what: how errors and log lines name the connector (``tap tap-jsonl``).
    :param timeout: the longest the connector may stay silent on stdout (seconds).
    :param stdin: bytes written to the connector's stdin, which is then closed.
    :raises ConnectorOutputInvalid: a line was not a JSON object.
    :raises ConnectorHung: silent past ``timeout``.
    :raises ConnectorExited: a non-zero exit; the message ends with its last stderr lines.
    :raises TransientError: the program could not be started.
    """
    proc = await _start(argv, what, stdin=stdin is not None)
    tail: deque[str] = deque(maxlen=_TAIL)
    pipes = [asyncio.create_task(_log_stderr(proc, what, mask, tail))]
    if stdin is not None:
        pipes.append(asyncio.create_task(_feed(proc, stdin)))
    assert proc.stdout is not None
    number = 0
    try:
        while True:
            try:
                line = await asyncio.wait_for(proc.stdout.readline(), timeout)
            except TimeoutError:
                raise ConnectorHung(
                    f"{what} hung: no output for {timeout:g}s (timeout_seconds); stopped it"
                ) from None
            if not line:
                break
            number += 1
            text = line.strip()
            if not text:
                continue
            try:
                message = json.loads(text)
            except ValueError as exc:
                # The line itself is not quoted: it may hold personal data.
                raise ConnectorOutputInvalid(
                    f"{what} printed invalid output: stdout line {number} is not JSON "
                    f"({exc.msg} at column {exc.colno}, {len(text)} bytes)"
                ) from None
            if not isinstance(message, dict):
                raise ConnectorOutputInvalid(
                    f"{what} printed invalid output: stdout line {number} is JSON but not "
                    f"an object (a {type(message).__name__})"
                )
            yield message
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            raise ConnectorHung(
                f"{what} hung: closed stdout but did not exit within {timeout:g}s; stopped it"
            ) from None
        await asyncio.gather(*pipes, return_exceptions=True)
        if code != 0:
            raise _exited(what, code, tail)
    finally:
        await _kill(proc)
        for task in pipes:
            task.cancel()
        await asyncio.gather(*pipes, return_exceptions=True)


async def _feed(proc: asyncio.subprocess.Process, data: bytes) -> None:
    assert proc.stdin is not None
    # A connector that exits before reading everything closes the pipe; its exit code
    # tells what happened.
    with contextlib.suppress(BrokenPipeError, ConnectionResetError):
        proc.stdin.write(data)
        await proc.stdin.drain()
    with contextlib.suppress(Exception):
        proc.stdin.close()


async def _start(argv: Sequence[str], what: str, *, stdin: bool) -> asyncio.subprocess.Process:
    """Start the connector with its stdout and stderr piped (its stdin too, if ``stdin``).

    :raises TransientError: the program could not be started.
    """
    try:
        return await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            limit=_LINE_LIMIT,
            # Its own process group, so a connector's children stop with it.
            start_new_session=True,
        )
    except OSError as exc:
        raise TransientError(f"{what}: cannot start {argv[0]}: {exc.strerror}") from None


async def _kill(proc: asyncio.subprocess.Process) -> None:
    """Stop a connector still running, with the children in its process group."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        with contextlib.suppress(Exception):
            await proc.wait()


def _exited(what: str, code: int, tail: deque[str]) -> ConnectorExited:
    said = " | ".join(tail) or "nothing on stderr"
    return ConnectorExited(f"{what} exited with code {code}; its last words: {said}")


async def _log_stderr(
    proc: asyncio.subprocess.Process, what: str, mask: Masker, tail: deque[str]
) -> None:
    assert proc.stderr is not None
    while line := await proc.stderr.readline():
        text = mask(line.decode("utf-8", "replace").rstrip())
        if text:
            tail.append(text[:500])
            logger.info("%s: %s", what, text)


async def document(argv: Sequence[str], *, what: str, timeout: float, mask: Masker) -> Any:
    """Run ``argv`` to its end and parse all it printed as one JSON document (a Singer
    tap's ``--discover`` prints its catalog over many lines).

    :raises ConnectorOutputInvalid: the output is not one JSON document.
    :raises ConnectorHung: the connector did not finish within ``timeout``.
    :raises ConnectorExited: a non-zero exit.
    """
    proc = await _start(argv, what, stdin=False)
    tail: deque[str] = deque(maxlen=_TAIL)
    logging_task = asyncio.create_task(_log_stderr(proc, what, mask, tail))
    assert proc.stdout is not None
    try:
        try:
            out = await asyncio.wait_for(proc.stdout.read(), timeout)
            code = await asyncio.wait_for(proc.wait(), timeout)
        except TimeoutError:
            raise ConnectorHung(
                f"{what} hung: not done after {timeout:g}s (timeout_seconds); stopped it"
            ) from None
        await asyncio.gather(logging_task, return_exceptions=True)
    finally:
        await _kill(proc)
        logging_task.cancel()
    if code != 0:
        raise _exited(what, code, tail)
    try:
        return json.loads(out)
    except ValueError as exc:
        raise ConnectorOutputInvalid(
            f"{what} printed invalid output: not one JSON document ({exc})"
        ) from None
