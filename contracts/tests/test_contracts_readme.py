"""The README's examples run as written."""

from __future__ import annotations

import re
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path

import pluggy
import pytest

README = (Path(__file__).parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.DOTALL)


@pytest.fixture
def acme_module() -> Iterator[types.ModuleType]:
    """The README's minimal spoke, importable as ``spokehub_acme``."""
    spoke_code = next(block for block in BLOCKS if "class AcmeDestination" in block)
    module = types.ModuleType("spokehub_acme")
    sys.modules["spokehub_acme"] = module
    try:
        # dont_inherit: run the block as written, without this file's __future__ imports.
        exec(compile(spoke_code, "README.md", "exec", dont_inherit=True), module.__dict__)
        yield module
    finally:
        del sys.modules["spokehub_acme"]


@pytest.fixture
def readme_tests(acme_module: types.ModuleType) -> dict[str, object]:
    test_code = next(block for block in BLOCKS if "def test_acme_keeps_the_contract" in block)
    namespace: dict[str, object] = {}
    exec(compile(test_code, "README.md", "exec", dont_inherit=True), namespace)
    return namespace


async def test_readme_destination_passes_the_kit(readme_tests: dict[str, object]) -> None:
    test = readme_tests["test_acme_keeps_the_contract"]
    assert callable(test)
    await test()


def test_readme_registration(
    readme_tests: dict[str, object],
    spokehub_plugin_manager: pluggy.PluginManager,
    spokehub_register: Callable[..., object],
) -> None:
    test = readme_tests["test_the_hub_finds_acme"]
    assert callable(test)
    test(spokehub_plugin_manager, spokehub_register)


def test_readme_hookimpl_is_a_real_hook(
    acme_module: types.ModuleType, spokehub_plugin_manager: pluggy.PluginManager
) -> None:
    spokehub_plugin_manager.register(acme_module)
    spokehub_plugin_manager.check_pending()
    found: list[type] = []
    spokehub_plugin_manager.hook.register_destinations(register=found.append)
    assert found == [acme_module.AcmeDestination]
