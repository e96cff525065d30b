"""spokehub-lifetime-value: a reference enricher.

It computes ``lifetime_value`` (the sum of a person's ``Order Completed`` totals),
``order_count`` and ``last_order_at`` from the events the hub hands it, and reaches the hub
through the ``spokehub`` entry point, which names this module. It depends on
``spokehub_contracts`` alone.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Enricher, hookimpl

from ._enricher import MODEL, LifetimeValue, order_amount

__all__ = ["MODEL", "LifetimeValue", "order_amount", "register_enrichers"]


@hookimpl
def register_enrichers(register: Callable[[type[Enricher]], None]) -> None:
    """Hand :class:`LifetimeValue` to the hub."""
    register(LifetimeValue)
