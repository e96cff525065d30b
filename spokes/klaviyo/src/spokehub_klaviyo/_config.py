"""The configuration of a Klaviyo connection."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, SecretStr

from spokehub_contracts import SpokeConfig

#: Klaviyo's production API. A connection points ``base_url`` elsewhere to use the
#: sandbox (``python -m spokehub_klaviyo.testing``).
PRODUCTION_URL = "https://a.klaviyo.com"
#: The API revision this spoke was written against; Klaviyo keeps a revision's shapes
#: for two years after it is published.
DEFAULT_REVISION = "2024-10-15"
# A dated revision, optionally a pre-release one (``2024-10-15.pre``).
_REVISION = re.compile(r"^20\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])(\.pre)?$")


def is_revision(value: str) -> bool:
    """A revision as Klaviyo dates them: ``YYYY-MM-DD``, or ``YYYY-MM-DD.pre``."""
    return bool(_REVISION.match(value))


def _dated(value: str) -> str:
    if not is_revision(value):
        raise ValueError("must be a dated Klaviyo API revision such as 2024-10-15")
    return value


#: The ``revision`` of a connection: a dated revision Klaviyo publishes.
Revision = Annotated[str, AfterValidator(_dated)]


class KlaviyoConfig(SpokeConfig):
    """Configuration of a Klaviyo connection.

    :param api_key: a private API key (``pk_…``) with the scopes ``profiles:write``,
        ``events:write``, ``data-privacy:write`` and ``accounts:read``; write
        ``${KLAVIYO_API_KEY}`` in spokehub.yaml rather than the key itself.
    :param base_url: the API root, Klaviyo's production API unless set.
    :param revision: the dated API revision sent in the ``revision`` header of every
        request (``2024-10-15``).
    :param list_id: the list a consent's subscribe adds the profile to (its double
        opt-in settings apply); none unless set, which subscribes without a list.
    """

    api_key: SecretStr
    base_url: str = PRODUCTION_URL
    revision: Revision = DEFAULT_REVISION
    list_id: str | None = None
