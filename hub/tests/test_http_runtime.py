"""The hub's tuning of the vendor HTTP stack, done where the hub starts talking to vendors."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from spokehub.http_runtime import prepare_vendor_http


def test_building_the_lanes_loads_what_a_first_request_would_import() -> None:
    # A fresh interpreter: httpcore's asyncio backend (reached through anyio) is not loaded
    # by importing the delivery lanes, and is by building them, before any request.
    script = (
        "import sys\n"
        "from spokehub.config import validate\n"
        "from spokehub.delivery import build_lanes\n"
        "from spokehub.registry import Registry\n"
        "before = 'anyio._backends._asyncio' in sys.modules\n"
        "registry = Registry.load(allow=())\n"
        "build_lanes(None, validate({}, registry), registry)\n"
        "print(before, 'anyio._backends._asyncio' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True"]


async def test_httpcore_finds_asyncio_without_searching_for_sniffio_each_time() -> None:
    from httpcore._synchronization import current_async_library

    if sys.modules.get("sniffio") is not None:
        pytest.skip("sniffio is installed: httpcore asks it")
    prepare_vendor_http()
    # Not installed: the hub remembered that, so the import fails at once, and httpcore
    # still takes its asyncio branch.
    assert "sniffio" in sys.modules
    with pytest.raises(ImportError):
        importlib.import_module("sniffio")
    assert current_async_library() == "asyncio"
