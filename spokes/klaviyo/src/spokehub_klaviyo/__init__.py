"""spokehub-klaviyo: the hub's people and events in Klaviyo.

People become Klaviyo profiles (``/api/profile-import``, matched on e-mail, phone number or
external id), events become Klaviyo events on those profiles (``/api/events``: an
``Onboarding Due`` with its recommended products starts a flow), and an erasure is a data
privacy deletion job. Depends on ``spokehub-contracts`` alone and reaches the hub through
the ``spokehub`` entry point, which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, hookimpl

from ._config import DEFAULT_REVISION, PRODUCTION_URL, KlaviyoConfig, is_revision
from ._destination import (
    ACCOUNTS_PATH,
    DELETION_JOBS_PATH,
    EVENTS_PATH,
    PROFILE_IMPORT_PATH,
    RATE_LIMIT,
    KlaviyoDestination,
    klaviyo_auth,
)
from ._errors import KlaviyoError, KlaviyoRefusal, errors_of, klaviyo_signal
from ._mapping import (
    LOCATION_KEYS,
    MATCH_KEYS,
    PROFILE_ATTRIBUTES,
    deletion_body,
    event_body,
    event_value,
    match_keys,
    metric_name,
    profile_attributes,
    profile_body,
)

__all__ = [
    "ACCOUNTS_PATH",
    "DEFAULT_REVISION",
    "DELETION_JOBS_PATH",
    "EVENTS_PATH",
    "LOCATION_KEYS",
    "MATCH_KEYS",
    "PRODUCTION_URL",
    "PROFILE_ATTRIBUTES",
    "PROFILE_IMPORT_PATH",
    "RATE_LIMIT",
    "KlaviyoConfig",
    "KlaviyoDestination",
    "KlaviyoError",
    "KlaviyoRefusal",
    "deletion_body",
    "errors_of",
    "event_body",
    "event_value",
    "is_revision",
    "klaviyo_auth",
    "klaviyo_signal",
    "match_keys",
    "metric_name",
    "profile_attributes",
    "profile_body",
    "register_destinations",
]


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`KlaviyoDestination` to the hub."""
    register(KlaviyoDestination)
