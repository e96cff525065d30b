"""The configuration of a Meta Custom Audiences connection."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ConfigDict, Field, SecretStr, field_validator

from spokehub_contracts import SpokeConfig

#: The Graph API's production host. A connection points ``base_url`` elsewhere to use
#: the sandbox (``python -m spokehub_meta_audiences.testing``).
PRODUCTION_URL = "https://graph.facebook.com"
#: The Marketing API version the spoke was written against and is tested with.
DEFAULT_API_VERSION = "v25.0"

_VERSION = re.compile(r"^v\d+\.\d+$")
_DIGITS = re.compile(r"^\d+$")

#: How the people of a customer file were collected, as Meta asks when an audience is made.
CustomerFileSource = Literal[
    "USER_PROVIDED_ONLY", "PARTNER_PROVIDED_ONLY", "BOTH_USER_AND_PARTNER_PROVIDED"
]


class MetaAudiencesConfig(SpokeConfig):
    """Configuration of a Meta Custom Audiences connection.

    :param access_token: a system user's access token with the ``ads_management``
        permission on the ad account; write ``${META_ACCESS_TOKEN}`` in spokehub.yaml.
    :param ad_account_id: the ad account the audiences live in (``1234567890``; an
        ``act_`` prefix is accepted and dropped).
    :param api_version: the Marketing API version in every path (``v25.0``).
    :param base_url: the Graph API root, Meta's production host unless set.
    :param customer_file_source: how the people were collected, given to Meta when the
        spoke creates an audience.
    :param audiences: hub audience name → the id of an existing Custom Audience to use for
        it; an audience not named here is found by its name in the ad account, or created.
    """

    # A mistyped token is still a token: errors name the field and the rule, not the input.
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    access_token: SecretStr
    ad_account_id: str
    api_version: str = DEFAULT_API_VERSION
    base_url: str = PRODUCTION_URL
    customer_file_source: CustomerFileSource = "USER_PROVIDED_ONLY"
    audiences: dict[str, str] = Field(default_factory=dict)

    @field_validator("ad_account_id")
    @classmethod
    def _account_digits(cls, value: str) -> str:
        digits = value.strip().removeprefix("act_")
        if not _DIGITS.match(digits):
            raise ValueError("must be the ad account's number, e.g. 1234567890 or act_1234567890")
        return digits

    @field_validator("api_version")
    @classmethod
    def _version(cls, value: str) -> str:
        if not _VERSION.match(value.strip()):
            raise ValueError("must be a Marketing API version such as v25.0")
        return value.strip()

    @field_validator("audiences")
    @classmethod
    def _audience_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for name, audience_id in value.items():
            if not _DIGITS.match(audience_id.strip()):
                raise ValueError(f"{name!r}: must be a Custom Audience id (digits)")
        return {name: audience_id.strip() for name, audience_id in value.items()}

    @property
    def account_path(self) -> str:
        """``/{api_version}/act_{ad_account_id}``."""
        return f"/{self.api_version}/act_{self.ad_account_id}"
