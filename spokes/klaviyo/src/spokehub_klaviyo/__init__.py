"""spokehub-klaviyo: the hub's people and events in Klaviyo, and Klaviyo's consent in the hub.

People become Klaviyo profiles (``/api/profile-import``, matched on e-mail, phone number or
external id), events become Klaviyo events on those profiles (``/api/events``: an
``Onboarding Due`` with its recommended products starts a flow), and an erasure is a data
privacy deletion job. The source side brings Klaviyo's subscribes, unsubscribes and spam
complaints in as consent records: pushed by its signed system webhooks, or pulled.
Depends on ``spokehub-contracts`` alone and reaches the hub through the ``spokehub``
entry point, which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, Source, hookimpl

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
from ._source import (
    CONSENT_METRICS,
    CONSENT_TOPICS,
    METRICS_PATH,
    PROFILE_ID_TYPE,
    KlaviyoSource,
    KlaviyoSourceConfig,
    consent_record,
    identifiers_of,
    signature,
)

__all__ = [
    "ACCOUNTS_PATH",
    "CONSENT_METRICS",
    "CONSENT_TOPICS",
    "DEFAULT_REVISION",
    "DELETION_JOBS_PATH",
    "EVENTS_PATH",
    "LOCATION_KEYS",
    "MATCH_KEYS",
    "METRICS_PATH",
    "PRODUCTION_URL",
    "PROFILE_ATTRIBUTES",
    "PROFILE_ID_TYPE",
    "PROFILE_IMPORT_PATH",
    "RATE_LIMIT",
    "KlaviyoConfig",
    "KlaviyoDestination",
    "KlaviyoError",
    "KlaviyoRefusal",
    "KlaviyoSource",
    "KlaviyoSourceConfig",
    "consent_record",
    "deletion_body",
    "errors_of",
    "event_body",
    "event_value",
    "identifiers_of",
    "is_revision",
    "klaviyo_auth",
    "klaviyo_signal",
    "match_keys",
    "metric_name",
    "profile_attributes",
    "profile_body",
    "register_destinations",
    "register_sources",
    "signature",
]


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`KlaviyoDestination` to the hub."""
    register(KlaviyoDestination)


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Hand :class:`KlaviyoSource` to the hub."""
    register(KlaviyoSource)
