"""pytest plugin of the conformance kit, loaded through the ``pytest11`` entry point.

Fixtures defined here are available to any test suite that has ``spokehub-contracts``
installed:

``spokehub_plugin_manager``
    A fresh ``pluggy.PluginManager("spokehub")`` with the hook specifications added and no
    installed distribution loaded, so spokes installed on the machine stay out of the test.

``spokehub_register``
    A function ``register(pm, *classes)`` that registers spoke or plugin classes into
    ``pm`` through a throwaway plugin object; everything it registered is unregistered when
    the test ends, pass or fail.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pluggy
import pytest

from .. import hookspecs
from ._registry import temporary_spokes

SpokeRegistrar = Callable[..., object]


@pytest.fixture
def spokehub_plugin_manager() -> pluggy.PluginManager:
    """A plugin manager for project ``spokehub`` with its hookspecs and no plugins."""
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


@pytest.fixture
def spokehub_register() -> Iterator[SpokeRegistrar]:
    """``register(pm, *classes) -> plugin``: register classes until the test ends."""
    with ExitStack() as stack:

        def register(pm: pluggy.PluginManager, *classes: type) -> object:
            return stack.enter_context(temporary_spokes(pm, *classes))

        yield register
