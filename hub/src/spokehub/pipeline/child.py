"""The pipeline process's side of its link to the daemon that started it.

``spokehub serve`` runs the pipeline as ``spokehub pipeline run --follow-stdin`` (see
:mod:`spokehub.daemon`): the worker says it is running with one line on stdout, a line on
its stdin wakes it, and the end of its stdin (the daemon is gone, even by SIGKILL) stops
it. This module holds that handshake without the daemon's HTTP stack, which the pipeline
process has no use for.
"""

from __future__ import annotations

import asyncio
import os
import sys

#: What a pipeline process started by the daemon prints once it is running.
READY = b"spokehub-pipeline-ready"


def follow_parent(stop: asyncio.Event, wake: asyncio.Event) -> None:
    """In a pipeline process started by ``serve``: tell the daemon it is running (on
    stdout); then each line on stdin sets ``wake``, and the end of stdin (the daemon is
    gone) sets ``stop``."""
    sys.stdout.buffer.write(READY + b"\n")
    sys.stdout.flush()
    # Nobody reads the pipe after that line: anything printed later goes to stderr.
    os.dup2(2, 1)
    loop = asyncio.get_running_loop()
    fd = 0
    os.set_blocking(fd, False)

    def readable() -> None:
        try:
            data = os.read(fd, 4096)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            wake.set()
            return
        loop.remove_reader(fd)
        stop.set()

    loop.add_reader(fd, readable)
