"""Tuning of the HTTP stack the hub's spokes talk to their vendors through.

This is the hub's business, not the contracts': a spoke's package must not change the
interpreter it is imported into (a vendor's own process, a test runner, a notebook), so
the toolkit client in ``spokehub_contracts`` does neither of these things itself. The hub
calls :func:`prepare_vendor_http` where it starts talking to vendors: when it builds its
delivery lanes and when its scheduler starts pulling from sources.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import sys

__all__ = ["prepare_vendor_http"]


def prepare_vendor_http() -> None:
    """Make the first and every later vendor request cheaper; idempotent.

    - Remember that ``sniffio`` is not installed (see :func:`_remember_missing_sniffio`).
    - Import what httpcore runs on under asyncio now, not at the first request (see
      :func:`_load_async_backend`).
    """
    _remember_missing_sniffio()
    _load_async_backend()


def _remember_missing_sniffio() -> None:
    """Make a failed ``import sniffio`` cheap when sniffio is not installed.

    httpcore tells asyncio from trio by importing ``sniffio`` inside the function it
    calls for every lock, event and cancellation shield of every pooled request, and
    falls back to asyncio when the import fails. Python does not remember a failed
    import, so without sniffio (anyio stopped requiring it) each call searches
    ``sys.path`` again: several times per request, more CPU than the rest of the
    client's own work. A ``None`` entry in ``sys.modules`` is Python's documented way to
    say "not importable": the import then fails at once and httpcore takes the same
    asyncio branch as before. Nothing changes when sniffio is installed. (Reported
    upstream as encode/httpcore discussion 1102.)
    """
    if "sniffio" not in sys.modules and importlib.util.find_spec("sniffio") is None:
        sys.modules["sniffio"] = None  # type: ignore[assignment]


def _load_async_backend() -> None:
    """Import what httpcore runs on under asyncio before the first request.

    httpcore reaches asyncio through anyio, which imports its asyncio backend and the
    parts behind its public names (sockets, locks, timeouts, TLS streams) lazily, on
    first use: the hub's first deliveries would otherwise wait for those imports (a few
    milliseconds from bytecode, far longer where none is cached) while each holds a slot
    of the vendor's budget. Anything that moved or is missing is simply left to load as
    before.
    """
    with contextlib.suppress(ImportError):
        anyio = importlib.import_module("anyio")
        importlib.import_module("anyio._backends._asyncio")
        importlib.import_module("anyio.streams.tls")
        for name in ("connect_tcp", "fail_after", "Lock", "Event", "Semaphore", "CancelScope"):
            getattr(anyio, name, None)
