"""The configuration of a HubSpot connection."""

from __future__ import annotations

import re
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, ConfigDict, Field, SecretStr, field_validator

from spokehub_contracts import ConsentPurpose, SpokeConfig

from ._api import LEGACY_VERSION, HubSpotApi, is_api_version

#: HubSpot's production API host. A connection points ``base_url`` elsewhere to use the
#: sandbox (``python -m spokehub_hubspot.testing``).
PRODUCTION_URL = "https://api.hubapi.com"

#: The legal bases HubSpot records with a subscription (its ``legalBasis`` values).
LegalBasis = Literal[
    "LEGITIMATE_INTEREST_PQL",
    "LEGITIMATE_INTEREST_CLIENT",
    "LEGITIMATE_INTEREST_OTHER",
    "PERFORMANCE_OF_CONTRACT",
    "CONSENT_WITH_NOTICE",
    "NON_GDPR",
    "PROCESS_AND_STORE",
]

#: HubSpot's contact-to-company association without a label (HubSpot defined).
UNLABELED_CONTACT_TO_COMPANY = 279

#: Contact properties filled from the person unless the connection's ``properties`` says
#: otherwise: HubSpot property → path in the change. Every one is a property HubSpot
#: creates in each portal.
DEFAULT_CONTACT_PROPERTIES: dict[str, str] = {
    "email": "email",
    "firstname": "first_name",
    "lastname": "last_name",
    "phone": "phone",
    "jobtitle": "title",
    "website": "website",
    "address": "address.street",
    "city": "address.city",
    "state": "address.state",
    "zip": "address.postal_code",
    "country": "address.country",
    "date_of_birth": "birthday",
}

#: Company properties filled from the account (``domain`` is always the matching key).
DEFAULT_COMPANY_PROPERTIES: dict[str, str] = {
    "name": "name",
    "website": "website",
    "numberofemployees": "employees",
    "address": "address.street",
    "city": "address.city",
    "state": "address.state",
    "zip": "address.postal_code",
    "country": "address.country",
}

#: Order facts as contact properties (the Segment e-commerce spec's ``Order Completed``).
#: HubSpot has no such properties of its own: create them in the portal (Settings →
#: Properties) or map the event to properties that exist.
DEFAULT_EVENTS: dict[str, dict[str, str]] = {
    "Order Completed": {
        "last_order_id": "properties.order_id",
        "last_order_total": "properties.total",
        "last_order_currency": "properties.currency",
        "last_order_date": "timestamp",
        "last_order_products": "properties.products.name",
    }
}

# HubSpot's internal property names: lowercase, digits and underscores, a letter first.
_PROPERTY = re.compile(r"^[a-z][a-z0-9_]*$")
_PATH = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$")

#: Where a person's contact property may come from: the traits, ``attributes.*`` (custom
#: traits and a route's mapped fields), ``scores.*`` (models) and the central contact ID.
PERSON_ROOTS = frozenset(
    {
        "first_name",
        "last_name",
        "name",
        "email",
        "phone",
        "title",
        "username",
        "gender",
        "birthday",
        "age",
        "avatar",
        "website",
        "description",
        "address",
        "created_at",
        "attributes",
        "scores",
        "contact_id",
    }
)
#: Where a company property may come from.
ACCOUNT_ROOTS = frozenset(
    {
        "account_id",
        "name",
        "industry",
        "employees",
        "plan",
        "website",
        "address",
        "created_at",
        "attributes",
    }
)
#: Where an event's contact property may come from.
EVENT_ROOTS = frozenset(
    {"event", "name", "properties", "context", "traits", "timestamp", "message_id", "user_id"}
)


def _mapping(
    value: dict[str, str | None], roots: frozenset[str], what: str
) -> dict[str, str | None]:
    for prop, path in value.items():
        if not _PROPERTY.match(prop):
            raise ValueError(
                f"{prop!r} is not a HubSpot property's internal name (lowercase letters,"
                " digits and '_', a letter first)"
            )
        if path is None:
            continue
        if not _PATH.match(path) or path.split(".")[0] not in roots:
            raise ValueError(
                f"{prop!r}: {path!r} is no path in {what}; start with one of"
                f" {', '.join(sorted(roots))}"
            )
    return value


def _time_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError("must be an IANA time zone such as Europe/Amsterdam") from None
    return value


#: A HubSpot account's time zone (IANA name): its daily API limit resets at midnight there.
TimeZone = Annotated[str, AfterValidator(_time_zone)]


class HubSpotConnection(SpokeConfig):
    """What every HubSpot connection names, source or destination: the token, the API's
    root and version."""

    # A mistyped token is still a token: errors name the field and the rule, not the input.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    access_token: SecretStr
    base_url: str = PRODUCTION_URL
    api_version: str = LEGACY_VERSION

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not is_api_version(value.strip()):
            raise ValueError("must be v3 (the numbered paths) or a dated version such as 2026-03")
        return value.strip()

    @property
    def api(self) -> HubSpotApi:
        """The paths of :attr:`api_version`."""
        return HubSpotApi(self.api_version)


class HubSpotConfig(HubSpotConnection):
    """Configuration of a HubSpot connection.

    :param access_token: a private app's access token (or an OAuth access token) with the
        ``crm.objects.contacts.write`` and ``crm.objects.companies.write`` scopes (and
        ``crm.objects.contacts.read`` for ``check()``); write ``${HUBSPOT_ACCESS_TOKEN}``
        in spokehub.yaml.
    :param base_url: HubSpot's API root, ``https://api.hubapi.com`` unless set.
    :param api_version: ``v3`` (the numbered paths, ``/crm/v3/…``) or a dated version
        such as ``2026-03`` (``/crm/objects/2026-03/…``).
    :param properties: contact property → path in the person (``first_name``,
        ``address.city``, ``attributes.plan``, ``scores.churn_risk``, ``contact_id``),
        over :data:`DEFAULT_CONTACT_PROPERTIES`; ``null`` drops a default.
    :param company_properties: company property → path in the account, over
        :data:`DEFAULT_COMPANY_PROPERTIES`.
    :param events: event name → {contact property → path in the event}, over
        :data:`DEFAULT_EVENTS`; an event mapped to ``{}`` is not sent.
    :param audience_properties: hub audience → the contact property that says whether the
        person is in it; other audiences use ``audience_property_prefix`` + their name.
    :param audience_property_prefix: put before an audience's name to name its property.
    :param association_type_id: the contact-to-company association a membership makes
        (279, HubSpot's unlabeled one, unless set; 1 makes it the primary company).
    :param association_category: ``HUBSPOT_DEFINED``, or ``USER_DEFINED`` for a label of
        your own.
    :param time_zone: the HubSpot account's time zone (IANA name): its daily API limit
        resets at midnight there.
    :param subscription_ids: consent purpose (``email_marketing``, ``sms_marketing`` …)
        → the id of the HubSpot subscription type a ``consent`` change subscribes the
        contact's address to or unsubscribes it from.
    :param legal_basis: the GDPR legal basis HubSpot records with a subscribe
        (``CONSENT_WITH_NOTICE`` …); required by portals with GDPR features on.
    :param legal_basis_explanation: the explanation HubSpot records beside it.
    """

    properties: dict[str, str | None] = Field(default_factory=dict)
    company_properties: dict[str, str | None] = Field(default_factory=dict)
    events: dict[str, dict[str, str]] = Field(default_factory=dict)
    audience_properties: dict[str, str] = Field(default_factory=dict)
    audience_property_prefix: str = ""
    association_type_id: int = Field(default=UNLABELED_CONTACT_TO_COMPANY, gt=0)
    association_category: Literal["HUBSPOT_DEFINED", "USER_DEFINED"] = "HUBSPOT_DEFINED"
    time_zone: TimeZone = "UTC"
    subscription_ids: dict[str, str] = Field(default_factory=dict)
    legal_basis: LegalBasis | None = None
    legal_basis_explanation: str = "Consent recorded by the customer data hub"

    @field_validator("subscription_ids")
    @classmethod
    def _subscriptions(cls, value: dict[str, str]) -> dict[str, str]:
        purposes = {p.value for p in ConsentPurpose}
        for purpose, subscription in value.items():
            if purpose not in purposes:
                raise ValueError(
                    f"{purpose!r} is no consent purpose: use one of {', '.join(sorted(purposes))}"
                )
            if not str(subscription).isdigit():
                raise ValueError(f"{purpose!r}: a subscription type id is a number")
        return value

    @field_validator("properties")
    @classmethod
    def _contact_mapping(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        return _mapping(value, PERSON_ROOTS, "a person")

    @field_validator("company_properties")
    @classmethod
    def _company_mapping(cls, value: dict[str, str | None]) -> dict[str, str | None]:
        return _mapping(value, ACCOUNT_ROOTS, "an account")

    @field_validator("events")
    @classmethod
    def _event_mappings(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for event, mapping in value.items():
            try:
                _mapping(dict(mapping), EVENT_ROOTS, "an event")
            except ValueError as exc:
                raise ValueError(f"{event!r}: {exc}") from None
        return value

    @field_validator("audience_properties")
    @classmethod
    def _audience_names(cls, value: dict[str, str]) -> dict[str, str]:
        for audience, prop in value.items():
            if not _PROPERTY.match(prop):
                raise ValueError(f"{audience!r}: {prop!r} is not a HubSpot property's name")
        return value

    @field_validator("audience_property_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        if value and not re.match(r"^[a-z][a-z0-9_]*$", value):
            raise ValueError("must be lowercase letters, digits and '_', a letter first")
        return value

    def contact_mapping(self) -> dict[str, str]:
        """Contact property → path, the defaults with this connection's changes."""
        return _merged(DEFAULT_CONTACT_PROPERTIES, self.properties)

    def company_mapping(self) -> dict[str, str]:
        """Company property → path, the defaults with this connection's changes."""
        return _merged(DEFAULT_COMPANY_PROPERTIES, self.company_properties)

    def event_mappings(self) -> dict[str, dict[str, str]]:
        """Event name → {contact property → path}; events mapped to nothing left out."""
        merged = {**DEFAULT_EVENTS, **self.events}
        return {name: dict(mapping) for name, mapping in merged.items() if mapping}


def _merged(defaults: dict[str, str], changes: dict[str, str | None]) -> dict[str, str]:
    merged: dict[str, str | None] = {**defaults, **changes}
    return {prop: path for prop, path in merged.items() if path}
