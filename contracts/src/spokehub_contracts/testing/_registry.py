"""Registering spoke and plugin classes into a plugin manager for the length of a test."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import pluggy

from .._plugins import Enricher, Matcher, Transform
from .._spoke import Destination, Source
from ..hookspecs import PROJECT_NAME, hookimpl

_REGISTERABLE: tuple[type, ...] = (Source, Destination, Transform, Enricher, Matcher)
_serial = itertools.count(1)


class _TemporaryPlugin:
    """A throwaway plugin object that hands the given classes to the matching hooks, as
    an installed distribution's module would."""

    def __init__(self, classes: Sequence[type]) -> None:
        for cls in classes:
            if not (isinstance(cls, type) and issubclass(cls, _REGISTERABLE)):
                raise TypeError(
                    f"{cls!r} is not a Source, Destination, Transform, Enricher or Matcher subclass"
                )
        self.classes = tuple(classes)

    def _hand_over(self, kind: type, register: Callable[[type], None]) -> None:
        for cls in self.classes:
            if issubclass(cls, kind):
                register(cls)

    @hookimpl
    def register_sources(self, register: Callable[[type[Source]], None]) -> None:
        self._hand_over(Source, register)

    @hookimpl
    def register_destinations(self, register: Callable[[type[Destination]], None]) -> None:
        self._hand_over(Destination, register)

    @hookimpl
    def register_transforms(self, register: Callable[[type[Transform]], None]) -> None:
        self._hand_over(Transform, register)

    @hookimpl
    def register_enrichers(self, register: Callable[[type[Enricher]], None]) -> None:
        self._hand_over(Enricher, register)

    @hookimpl
    def register_matchers(self, register: Callable[[type[Matcher]], None]) -> None:
        self._hand_over(Matcher, register)


@contextmanager
def temporary_spokes(pm: pluggy.PluginManager, *classes: type) -> Iterator[object]:
    """Register ``classes`` into ``pm`` through a throwaway plugin, and unregister it on the
    way out, whatever happens inside::

        with temporary_spokes(pm, MyDestination):
            registry.load()  # sees MyDestination as if a distribution provided it
    """
    if pm.project_name != PROJECT_NAME:
        raise ValueError(f"expected a PluginManager({PROJECT_NAME!r}), got {pm.project_name!r}")
    plugin = _TemporaryPlugin(classes)
    pm.register(plugin, name=f"spokehub-temporary-{next(_serial)}")
    try:
        yield plugin
    finally:
        pm.unregister(plugin)
