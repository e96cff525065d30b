"""spokehub-hubspot: the hub's people, companies and memberships in HubSpot's CRM, and
HubSpot's contacts and companies in the hub.

As a destination, people become contacts (upserted by e-mail), accounts companies
(upserted by domain), memberships contact-to-company associations; order facts and
audience membership become contact properties, and an erasure is HubSpot's GDPR delete.
As a source, contacts and companies are read as they change (the CRM search API by
last-modified date), a contact's companies as memberships. Depends on
``spokehub-contracts`` alone and reaches the hub through the ``spokehub`` entry point,
which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, Source, hookimpl

from ._api import LEGACY_VERSION, HubSpotApi, is_api_version
from ._batches import MAX_INPUTS, BatchInput, Written, associate, dissociate, write_objects
from ._config import (
    DEFAULT_COMPANY_PROPERTIES,
    DEFAULT_CONTACT_PROPERTIES,
    DEFAULT_EVENTS,
    PRODUCTION_URL,
    UNLABELED_CONTACT_TO_COMPANY,
    HubSpotConfig,
)
from ._destination import BURST_LIMIT, HubSpotDestination
from ._errors import (
    DAILY,
    SECONDLY,
    TEN_SECONDLY_ROLLING,
    HubSpotError,
    HubSpotValidationError,
    batch_errors,
    hubspot_signal,
    seconds_to_midnight,
)
from ._mapping import (
    CONTACT_ID_TYPE,
    account_domain,
    audience_property,
    contact_email,
    domain_of,
    property_value,
    read_path,
)
from ._source import (
    ACCOUNT_PREFIX,
    SEARCH_RESULT_CAP,
    HubSpotSource,
    company_account,
    contact_identifiers,
    contact_person,
)
from ._source_config import HubSpotSourceConfig

__all__ = [
    "ACCOUNT_PREFIX",
    "BURST_LIMIT",
    "CONTACT_ID_TYPE",
    "DAILY",
    "DEFAULT_COMPANY_PROPERTIES",
    "DEFAULT_CONTACT_PROPERTIES",
    "DEFAULT_EVENTS",
    "LEGACY_VERSION",
    "MAX_INPUTS",
    "PRODUCTION_URL",
    "SEARCH_RESULT_CAP",
    "SECONDLY",
    "TEN_SECONDLY_ROLLING",
    "UNLABELED_CONTACT_TO_COMPANY",
    "BatchInput",
    "HubSpotApi",
    "HubSpotConfig",
    "HubSpotDestination",
    "HubSpotError",
    "HubSpotSource",
    "HubSpotSourceConfig",
    "HubSpotValidationError",
    "Written",
    "account_domain",
    "associate",
    "audience_property",
    "batch_errors",
    "company_account",
    "contact_email",
    "contact_identifiers",
    "contact_person",
    "dissociate",
    "domain_of",
    "hubspot_signal",
    "is_api_version",
    "property_value",
    "read_path",
    "register_destinations",
    "register_sources",
    "seconds_to_midnight",
    "write_objects",
]


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`HubSpotDestination` to the hub."""
    register(HubSpotDestination)


@hookimpl
def register_sources(register: Callable[[type[Source]], None]) -> None:
    """Hand :class:`HubSpotSource` to the hub."""
    register(HubSpotSource)
