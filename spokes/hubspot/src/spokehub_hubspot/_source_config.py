"""The configuration of a HubSpot source connection."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from ._config import HubSpotConnection, TimeZone

#: The most results one search request returns.
MAX_SEARCH_LIMIT = 200
#: The streams a connection reads unless ``streams`` says otherwise.
SOURCE_STREAMS = ("contacts", "companies")

_PROPERTY = re.compile(r"^[a-z][a-z0-9_]*$")


class HubSpotSourceConfig(HubSpotConnection):
    """Configuration of a HubSpot source connection.

    :param access_token: a private app's access token (or an OAuth access token) with the
        ``crm.objects.contacts.read`` and ``crm.objects.companies.read`` scopes; write
        ``${HUBSPOT_ACCESS_TOKEN}`` in spokehub.yaml.
    :param base_url: HubSpot's API root, ``https://api.hubapi.com`` unless set.
    :param api_version: ``v3`` (the numbered paths) or a dated version such as
        ``2026-03``.
    :param streams: what a pull reads: ``contacts`` (with their companies as
        memberships), ``companies``, or both.
    :param page_size: results a search request (at most 200).
    :param contact_properties: more contact properties to read, kept under the person's
        ``attributes`` by their HubSpot name.
    :param company_properties: more company properties to read, kept under the
        account's ``attributes``.
    :param time_zone: the HubSpot account's time zone (IANA name): its daily API limit
        resets at midnight there.
    """

    streams: tuple[Literal["contacts", "companies"], ...] = SOURCE_STREAMS
    page_size: int = Field(default=100, ge=1, le=MAX_SEARCH_LIMIT)
    contact_properties: tuple[str, ...] = ()
    company_properties: tuple[str, ...] = ()
    time_zone: TimeZone = "UTC"

    @field_validator("streams")
    @classmethod
    def _some_streams(cls, value: tuple[str, ...]) -> tuple[Literal["contacts", "companies"], ...]:
        if not value:
            raise ValueError("name at least one stream: contacts, companies")
        return tuple(dict.fromkeys(value))  # type: ignore[return-value]

    @field_validator("contact_properties", "company_properties")
    @classmethod
    def _property_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _PROPERTY.match(name):
                raise ValueError(
                    f"{name!r} is not a HubSpot property's internal name (lowercase letters,"
                    " digits and '_', a letter first)"
                )
        return value
