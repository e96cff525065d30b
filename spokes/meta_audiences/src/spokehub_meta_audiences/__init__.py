"""spokehub-meta-audiences: the hub's audiences as Meta Custom Audiences.

A person entering an audience in the hub is added to the Custom Audience of that name in
the ad account, one leaving it is removed, matched on SHA-256 hashes of their e-mail
addresses and phone numbers, normalized as Meta asks. Depends on ``spokehub-contracts``
alone and reaches the hub through the ``spokehub`` entry point, which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, hookimpl

from ._audiences import AudienceDirectory
from ._config import DEFAULT_API_VERSION, PRODUCTION_URL, MetaAudiencesConfig
from ._destination import MetaAudiencesDestination
from ._graph import GraphError, graph_signal, regain_access_seconds
from ._matching import MAX_USERS_PER_REQUEST, identifier_hash, meta_hash, payload, rows_of

__all__ = [
    "DEFAULT_API_VERSION",
    "MAX_USERS_PER_REQUEST",
    "PRODUCTION_URL",
    "AudienceDirectory",
    "GraphError",
    "MetaAudiencesConfig",
    "MetaAudiencesDestination",
    "graph_signal",
    "identifier_hash",
    "meta_hash",
    "payload",
    "regain_access_seconds",
    "register_destinations",
    "rows_of",
]


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`MetaAudiencesDestination` to the hub."""
    register(MetaAudiencesDestination)
