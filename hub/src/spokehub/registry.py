"""The plugin registry: finds spokes and plugins through the ``spokehub`` entry-point group.

Built-in spokes are distributions like any third-party one; nothing here names a spoke.
Loading is explicit and idempotent (:meth:`Registry.load`), never done at import time.
A distribution that fails to import or to register is reported by name and skipped, so a
broken spoke never takes the hub down; two distributions claiming one spoke name is an
error, because the hub could not know which one should get the data.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

import pluggy

from spokehub_contracts import (
    PROJECT_NAME,
    Capabilities,
    Destination,
    Enricher,
    Matcher,
    Source,
    SpokeConfig,
    Transform,
)
from spokehub_contracts import hookspecs as _hookspecs

ENTRY_POINT_GROUP = PROJECT_NAME
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")

T = TypeVar("T")


class RegistryError(Exception):
    """Plugins registered something the hub cannot accept (duplicate or malformed)."""


@dataclass(frozen=True)
class LoadFailure:
    """A distribution that could not be loaded, and why (no traceback, no secrets)."""

    distribution: str
    entry_point: str
    error: str


@dataclass(frozen=True)
class Registered(Generic[T]):
    """One registered class and the distribution that provided it."""

    name: str
    cls: type[T]
    distribution: str
    version: str


@dataclass
class Registry:
    """Everything the loaded distributions registered, by kind and name.

    The daemon and CLI ask this typed facade; nothing else calls ``pm.hook`` directly.
    """

    pm: pluggy.PluginManager
    sources: dict[str, Registered[Source]] = field(default_factory=dict)
    destinations: dict[str, Registered[Destination]] = field(default_factory=dict)
    transforms: dict[str, Registered[Transform]] = field(default_factory=dict)
    enrichers: dict[str, Registered[Enricher]] = field(default_factory=dict)
    matchers: dict[str, Registered[Matcher]] = field(default_factory=dict)
    failures: list[LoadFailure] = field(default_factory=list)

    # -- loading ---------------------------------------------------------------------

    @classmethod
    def load(
        cls,
        *,
        allow: Iterable[str] | None = None,
        block: Iterable[str] = (),
        extra_plugins: Iterable[tuple[str, object]] = (),
    ) -> Registry:
        """Load every ``spokehub`` entry point, then collect what each registers.

        :param allow: entry-point names to load (all when ``None``); defaults to the
            comma-separated ``SPOKEHUB_PLUGINS`` environment variable.
        :param block: entry-point names never to load, plus ``SPOKEHUB_BLOCK_PLUGINS``.
        :param extra_plugins: ``(name, module_or_object)`` pairs registered directly, for
            tests and embedding.
        :raises RegistryError: two distributions register the same name for one kind.
        """
        pm = pluggy.PluginManager(PROJECT_NAME)
        pm.add_hookspecs(_hookspecs)
        if allow is None and os.environ.get("SPOKEHUB_PLUGINS"):
            allow = _split(os.environ["SPOKEHUB_PLUGINS"])
        blocked = set(block) | set(_split(os.environ.get("SPOKEHUB_BLOCK_PLUGINS", "")))
        for name in blocked:
            pm.set_blocked(name)
        registry = cls(pm=pm)
        allowed = None if allow is None else set(allow)

        names = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
        for ep_name in names:
            if allowed is not None and ep_name not in allowed:
                continue
            registry._load_entry_point(ep_name)
        for name, plugin in extra_plugins:
            pm.register(plugin, name=name)
        registry._collect()
        return registry

    def _load_entry_point(self, ep_name: str) -> None:
        dists = [
            ep.dist.name if ep.dist else ep.value
            for ep in entry_points(group=ENTRY_POINT_GROUP, name=ep_name)
        ]
        dist = ", ".join(dists) or ep_name
        try:
            # One name at a time, so one broken distribution cannot stop the others.
            self.pm.load_setuptools_entrypoints(ENTRY_POINT_GROUP, name=ep_name)
            self.pm.check_pending()
        except Exception as exc:  # any import error of third-party code
            plugin = self.pm.get_plugin(ep_name)
            if plugin is not None:
                self.pm.unregister(plugin)
            self.failures.append(LoadFailure(dist, ep_name, _describe(exc)))

    def _collect(self) -> None:
        dist_of = self._distributions()
        hooks: list[tuple[Any, dict[str, Registered[Any]], type]] = [
            (self.pm.hook.register_sources, self.sources, Source),
            (self.pm.hook.register_destinations, self.destinations, Destination),
            (self.pm.hook.register_transforms, self.transforms, Transform),
            (self.pm.hook.register_enrichers, self.enrichers, Enricher),
            (self.pm.hook.register_matchers, self.matchers, Matcher),
        ]
        for hook, table, base in hooks:
            for impl in hook.get_hookimpls():
                dist, version = dist_of.get(impl.plugin_name, (impl.plugin_name, ""))
                register = self._registrar(table, base, dist, version)
                try:
                    impl.function(register=register)
                except RegistryError:
                    raise
                except Exception as exc:
                    self.failures.append(LoadFailure(dist, impl.plugin_name, _describe(exc)))

    def _registrar(
        self, table: dict[str, Registered[Any]], base: type, dist: str, version: str
    ) -> Callable[[type], None]:
        kind = base.__name__.lower()

        def register(cls: type) -> None:
            _validate(cls, base, dist)
            name = cls.name
            if name in table:
                other = table[name].distribution
                raise RegistryError(
                    f"{kind} name {name!r} is registered by both {other!r} and {dist!r}; "
                    "uninstall one of them or block it with SPOKEHUB_BLOCK_PLUGINS"
                )
            table[name] = Registered(name=name, cls=cls, distribution=dist, version=version)

        return register

    def _distributions(self) -> dict[str, tuple[str, str]]:
        found: dict[str, tuple[str, str]] = {}
        for plugin, dist in self.pm.list_plugin_distinfo():
            name = self.pm.get_name(plugin)
            if name is not None:
                found[name] = (dist.project_name, dist.version)
        return found

    # -- queries ---------------------------------------------------------------------

    def source(self, name: str) -> type[Source]:
        return self.sources[name].cls

    def destination(self, name: str) -> type[Destination]:
        return self.destinations[name].cls

    def spoke_names(self) -> list[str]:
        return sorted(set(self.sources) | set(self.destinations))


def _validate(cls: type, base: type, dist: str) -> None:
    where = f"in distribution {dist!r}"
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise RegistryError(f"{cls!r} {where} is not a subclass of {base.__name__}")
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not _NAME.match(name):
        raise RegistryError(
            f"{cls.__name__} {where} needs a class attribute 'name' of lowercase letters, "
            "digits, '_' or '-'"
        )
    if base in (Source, Destination):
        config = getattr(cls, "Config", None)
        if not (isinstance(config, type) and issubclass(config, SpokeConfig)):
            raise RegistryError(f"{cls.__name__} {where}: Config must subclass SpokeConfig")
        if not isinstance(getattr(cls, "capabilities", None), Capabilities):
            raise RegistryError(f"{cls.__name__} {where}: capabilities must be Capabilities")


def _describe(exc: BaseException) -> str:
    text = str(exc).splitlines()[0] if str(exc) else ""
    return f"{type(exc).__name__}: {text}"[:300]


def _split(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]
