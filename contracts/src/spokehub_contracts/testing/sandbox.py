"""Serve a vendor sandbox from the command line::

    python -m spokehub_contracts.testing.sandbox spokehub_acme.testing:AcmeSandbox --rate 10

The first line printed is the sandbox's URL (``http://127.0.0.1:<port>``); point the
spoke's ``base_url`` at it. It serves until interrupted, or with ``--until-stdin-closes``
until its standard input closes, so that it never outlives the process that started it.
A vendor's own sandbox module can offer the same with ``AcmeSandbox.main()``.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from .._spoke import RateLimit
from ._sandbox import Sandbox


def load(spec: str) -> type[Sandbox]:
    """The sandbox class named ``module:Class``."""
    module_name, _, class_name = spec.partition(":")
    if not class_name:
        raise SystemExit(f"name the sandbox as module:Class, got {spec!r}")
    found = getattr(importlib.import_module(module_name), class_name, None)
    if not (isinstance(found, type) and issubclass(found, Sandbox)):
        raise SystemExit(f"{spec} is not a spokehub_contracts.testing.Sandbox subclass")
    return found


def _parser(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: free)")
    parser.add_argument("--rate", type=int, help="requests allowed per window (vendor's limit)")
    parser.add_argument("--per", type=float, default=1.0, help="window length in seconds")
    parser.add_argument(
        "--until-stdin-closes",
        action="store_true",
        help="stop when standard input closes (for a parent process that holds it open)",
    )
    return parser


def serve(sandbox_cls: type[Sandbox], argv: Sequence[str] | None = None) -> None:
    """Parse ``argv``, start ``sandbox_cls`` and serve until told to stop."""
    args = _parser(f"the {sandbox_cls.name} sandbox on 127.0.0.1").parse_args(argv)
    kwargs: dict[str, Any] = {}
    if args.rate:
        kwargs["rate_limit"] = RateLimit(requests=args.rate, per_seconds=args.per)
    serve_started(sandbox_cls(**kwargs).start(port=args.port), args.until_stdin_closes)


def serve_started(sandbox: Sandbox, until_stdin_closes: bool = False) -> None:
    """Print the URL of ``sandbox`` (started) and serve until SIGTERM, an interrupt or,
    with ``until_stdin_closes``, the end of standard input; then stop it. For a vendor
    module's own command line, with options of its own."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(sandbox.url, flush=True)
    print(f"{sandbox.name} sandbox serving at {sandbox.url}", file=sys.stderr, flush=True)
    if until_stdin_closes:
        threading.Thread(target=lambda: (sys.stdin.read(), done.set()), daemon=True).start()
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()


@contextmanager
def sandbox_process(module: str, *args: str, cwd: str | None = None) -> Iterator[str]:
    """``python -m module args… --until-stdin-closes`` (in ``cwd``) for the block: its
    URL, the first line it prints. Closing its standard input at the end stops it; it
    must exit 0."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, *args, "--until-stdin-closes"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        cwd=cwd,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:"), f"{module} printed {url!r}, not its URL"
        yield url
        process.stdin.close()
        assert process.wait(timeout=30) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("sandbox", help="the sandbox class, as module:Class")
    known, rest = parser.parse_known_args(argv)
    serve(load(known.sandbox), rest)


if __name__ == "__main__":
    main()
