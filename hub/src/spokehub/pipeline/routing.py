"""Routing: which destination connections receive a change, as outbox rows.

A change goes to ``route.to`` when its kind is in ``route.kinds``, its source connection
is in ``route.from`` (or the route names no sources) and, for events, its name is in
``route.events`` (or the route names no events). One outbox row per (destination, change):
two routes to the same destination send it once, under the first matching route.

A change never goes back to the connection its record came from: a destination's own
answer (the vendor id it wrote back through the inbox) must not be sent to it again.

A Segment message's ``integrations`` object narrows where its changes go, as Segment does:
a destination connection named in it with ``false`` is left out; with ``"All": false``
only the connections named with ``true`` (or an object of settings) receive it. Names
are the connection names of the project file, matched exactly. It filters routes only:
consent changes and identity changes are not the message's to withhold.

A ``consent`` change needs no route: it goes to every destination connection whose spoke
accepts the kind (a denial must reach every tool that keeps a subscription status,
whichever tool it came from), under the route name :data:`CONSENT_ROUTE`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from spokehub_contracts import TrackEvent

from ..config import Project, Route
from ..registry import Registry

#: The columns of an outbox row as :meth:`Router.outbox_rows` gives it; the pipeline adds
#: when it was made and when it is due.
OUTBOX_COLUMNS = ("destination", "route", "contact_id", "kind", "purpose", "item")


#: The route name of the consent changes the hub sends on its own.
CONSENT_ROUTE = "(consent)"


def consent_destinations(project: Project, registry: Registry) -> tuple[str, ...]:
    """The destination connections whose installed spoke accepts ``consent`` changes (a
    spoke that lists no kinds accepts every kind)."""
    found: list[str] = []
    for name, conn in sorted(project.destinations().items()):
        registered = registry.destinations.get(conn.spoke or "")
        if registered is None:
            continue
        kinds = registered.cls.capabilities.record_kinds
        if not kinds or "consent" in kinds:
            found.append(name)
    return tuple(found)


def integration_enabled(integrations: Mapping[str, Any] | None, destination: str) -> bool:
    """Whether a message's ``integrations`` object lets it reach ``destination``."""
    if not integrations:
        return True
    if destination in integrations:
        return integrations[destination] is not False
    return integrations.get("All", True) is not False


@dataclass(frozen=True)
class Target:
    """Where one change goes: the destination, the route (name or index) and its purpose."""

    destination: str
    route: str
    purpose: str | None


class Router:
    """The project's routes, compiled for fast matching in the pipeline's hot loop."""

    def __init__(self, project: Project, consent_to: Sequence[str] = ()) -> None:
        self._routes: list[tuple[str, Route]] = [
            (route.name or str(i), route) for i, route in enumerate(project.routes)
        ]
        self._consent = [Target(name, CONSENT_ROUTE, None) for name in consent_to]
        self._kinds: dict[str, frozenset[str]] = {}

    def kinds_from(self, source: str) -> frozenset[str]:
        """The change kinds some destination takes from ``source``: a change of any other
        kind goes nowhere, and the pipeline need not build it."""
        found = self._kinds.get(source)
        if found is None:
            kinds = {
                kind
                for _, route in self._routes
                if route.to != source and (route.sources is None or source in route.sources)
                for kind in route.kinds
            }
            if any(t.destination != source for t in self._consent):
                kinds.add("consent")
            found = self._kinds[source] = frozenset(kinds)
        return found

    def targets(self, kind: str, source: str, event_name: str | None = None) -> list[Target]:
        """The destinations a change of ``kind`` from ``source`` goes to, once each."""
        if kind == "consent":
            return [t for t in self._consent if t.destination != source]
        out: list[Target] = []
        seen: set[str] = set()
        for name, route in self._routes:
            if route.to in seen or route.to == source or kind not in route.kinds:
                continue
            if route.sources is not None and source not in route.sources:
                continue
            if kind == "event" and route.events is not None and event_name not in route.events:
                continue
            seen.add(route.to)
            purpose = route.purpose.value if route.purpose is not None else None
            out.append(Target(route.to, name, purpose))
        return out

    def targets_of(
        self, change: Any, source: str, integrations: Mapping[str, Any] | None = None
    ) -> list[Target]:
        """Where ``change`` (anything with a ``kind``; a :class:`TrackEvent` also by its
        event's name) from ``source`` goes, the message's ``integrations`` applied."""
        event_name = change.event.event if isinstance(change, TrackEvent) else None
        targets = self.targets(change.kind, source, event_name)
        if integrations and change.kind != "consent":
            targets = [t for t in targets if integration_enabled(integrations, t.destination)]
        return targets

    def outbox_rows(
        self,
        changes: Sequence[Any],
        source: str,
        integrations: Mapping[str, Any] | None = None,
    ) -> list[tuple[Any, ...]]:
        """Outbox rows for ``changes`` (Change models with their ``item_id`` set), in
        :data:`OUTBOX_COLUMNS` order; ``integrations``: the message's object, if any."""
        rows: list[tuple[Any, ...]] = []
        for change in changes:
            targets = self.targets_of(change, source, integrations)
            if not targets:
                continue
            item = change.model_dump_json()
            for target in targets:
                rows.append(
                    (
                        target.destination,
                        target.route,
                        change.contact_id,
                        change.kind,
                        target.purpose,
                        item,
                    )
                )
        return rows
