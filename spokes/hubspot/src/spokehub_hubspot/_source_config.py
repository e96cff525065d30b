"""The configuration of a HubSpot source connection."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, SecretStr, field_validator

from spokehub_contracts import SpokeConfig

from ._api import LEGACY_VERSION, HubSpotApi, is_api_version
from ._config import PRODUCTION_URL

#: The most results one search request returns.
MAX_SEARCH_LIMIT = 200
#: The streams a connection reads unless ``streams`` says otherwise.
SOURCE_STREAMS = ("contacts", "companies")

_PROPERTY = re.compile(r"^[a-z][a-z0-9_]*$")


class HubSpotSourceConfig(SpokeConfig):
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

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    access_token: SecretStr
    base_url: str = PRODUCTION_URL
    api_version: str = LEGACY_VERSION
    streams: tuple[Literal["contacts", "companies"], ...] = SOURCE_STREAMS
    page_size: int = Field(default=100, ge=1, le=MAX_SEARCH_LIMIT)
    contact_properties: tuple[str, ...] = ()
    company_properties: tuple[str, ...] = ()
    time_zone: str = "UTC"

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not is_api_version(value.strip()):
            raise ValueError("must be v3 (the numbered paths) or a dated version such as 2026-03")
        return value.strip()

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

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError("must be an IANA time zone such as Europe/Amsterdam") from None
        return value

    @property
    def api(self) -> HubSpotApi:
        """The paths of :attr:`api_version`."""
        return HubSpotApi(self.api_version)
