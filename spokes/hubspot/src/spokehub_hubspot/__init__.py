"""spokehub-hubspot: the hub's people, companies and memberships in HubSpot's CRM.

People become contacts (upserted by e-mail), accounts companies (upserted by domain),
memberships contact-to-company associations; order facts and audience membership become
contact properties, and an erasure is HubSpot's GDPR delete. Depends on
``spokehub-contracts`` alone and reaches the hub through the ``spokehub`` entry point,
which names this module.
"""

from __future__ import annotations

from collections.abc import Callable

from spokehub_contracts import Destination, hookimpl

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

__all__ = [
    "BURST_LIMIT",
    "CONTACT_ID_TYPE",
    "DAILY",
    "DEFAULT_COMPANY_PROPERTIES",
    "DEFAULT_CONTACT_PROPERTIES",
    "DEFAULT_EVENTS",
    "LEGACY_VERSION",
    "MAX_INPUTS",
    "PRODUCTION_URL",
    "SECONDLY",
    "TEN_SECONDLY_ROLLING",
    "UNLABELED_CONTACT_TO_COMPANY",
    "BatchInput",
    "HubSpotApi",
    "HubSpotConfig",
    "HubSpotDestination",
    "HubSpotError",
    "HubSpotValidationError",
    "Written",
    "account_domain",
    "associate",
    "audience_property",
    "batch_errors",
    "contact_email",
    "dissociate",
    "domain_of",
    "hubspot_signal",
    "is_api_version",
    "property_value",
    "read_path",
    "register_destinations",
    "seconds_to_midnight",
    "write_objects",
]


@hookimpl
def register_destinations(register: Callable[[type[Destination]], None]) -> None:
    """Hand :class:`HubSpotDestination` to the hub."""
    register(HubSpotDestination)
