"""spokehub-webhook: the hub's changes as signed JSON batches to any URL.

For the tools that have no spoke of their own: each batch is one POST, signed as the
Standard Webhooks spec says, so the receiver can check it came from this hub. Depends on
``spokehub-contracts`` and the ``standardwebhooks`` reference library, and reaches the hub
through the ``spokehub`` entry point, which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, hookimpl

from ._config import WebhookConfig, signing_key
from ._destination import BatchData, WebhookDestination, WebhookMessage
from ._signing import message_id, sign

__all__ = [
    "BatchData",
    "WebhookConfig",
    "WebhookDestination",
    "WebhookMessage",
    "message_id",
    "register_destinations",
    "sign",
    "signing_key",
]


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`WebhookDestination` to the hub."""
    register(WebhookDestination)
