"""Hook specifications: how a distribution hands its spokes and plugins to the hub.

A distribution declares an entry point in the group ``spokehub`` that names a module; the
hub loads it with pluggy and calls the hooks below that the module implements. Each hook
receives a ``register`` callable and calls it once per class it provides, so one
distribution may add several spokes. The hub validates every class at the point of
registration (unique name, a ``Config`` model, capabilities) and names the distribution
in any error.

Example (``spokehub_files/__init__.py``)::

    from spokehub_contracts import hookimpl

    @hookimpl
    def register_sources(register):
        register(FilesSource)

Hooks are called synchronously, once, when the hub loads its plugins. The spokes
themselves do their I/O in ``async`` methods.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

from ._plugins import Enricher, Matcher, Transform
from ._spoke import Destination, Source

PROJECT_NAME = "spokehub"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Register source spokes.

    :param register: call with each :class:`~spokehub_contracts.Source` subclass this
        distribution provides. The class's ``name`` must be unique among sources.

    Called once at plugin load. Return value is ignored.

    .. versionadded:: 0.1
    """


@hookspec
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Register destination spokes.

    :param register: call with each :class:`~spokehub_contracts.Destination` subclass this
        distribution provides. The class's ``name`` must be unique among destinations.

    Called once at plugin load. Return value is ignored.

    .. versionadded:: 0.1
    """


@hookspec
def register_transforms(register: Callable[[type[Transform]], None]) -> None:
    """Register transforms that rewrite or drop records in the pipeline.

    :param register: call with each :class:`~spokehub_contracts.Transform` subclass.

    Called once at plugin load. Return value is ignored.

    .. versionadded:: 0.1
    """


@hookspec
def register_enrichers(register: Callable[[type[Enricher]], None]) -> None:
    """Register enrichers that add computed traits and model scores to profiles.

    :param register: call with each :class:`~spokehub_contracts.Enricher` subclass. The
        class's ``name`` must be unique among enrichers; its ``events`` names the track
        events whose history it reads. The pipeline calls each registered enricher when
        a record changes a profile (see :class:`~spokehub_contracts.Enricher`).

    Called once at plugin load. Return value is ignored.

    .. versionadded:: 0.1
    """


@hookspec
def register_matchers(register: Callable[[type[Matcher]], None]) -> None:
    """Register matchers that propose extra identity evidence.

    :param register: call with each :class:`~spokehub_contracts.Matcher` subclass.

    Called once at plugin load. Return value is ignored.

    .. versionadded:: 0.1
    """
