"""Where HubSpot's endpoints live, for the API version a connection speaks.

HubSpot publishes each API twice: under the numbered paths the CRM has had for years
(``/crm/v3/objects/contacts``, associations under ``/crm/v4/associations``) and, since
March 2026, under date-based versions, one set every March and September
(``/crm/objects/2026-03/contacts``, ``/crm/associations/2026-03/…``). The shapes of the
requests and answers this spoke uses are the same in both; only the paths differ. One
:class:`HubSpotApi` answers every path, so the destination (and a source reading the same
portal) never spells one out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: The numbered API: objects and properties ``v3``, associations ``v4``.
LEGACY_VERSION = "v3"
_DATED = re.compile(r"^20\d\d-(0[1-9]|1[0-2])$")


def is_api_version(value: str) -> bool:
    """``v3`` (the numbered paths) or a dated version such as ``2026-03``."""
    return value == LEGACY_VERSION or bool(_DATED.match(value))


@dataclass(frozen=True)
class HubSpotApi:
    """The paths of one API version. ``object_type`` is HubSpot's name for a CRM object
    (``contacts``, ``companies``)."""

    version: str = LEGACY_VERSION

    def __post_init__(self) -> None:
        if not is_api_version(self.version):
            raise ValueError(f"not a HubSpot API version: {self.version!r} (v3 or YYYY-MM)")

    @property
    def dated(self) -> bool:
        return self.version != LEGACY_VERSION

    def objects(self, object_type: str) -> str:
        """``/crm/v3/objects/{type}``: list (``GET``, paged with ``after``) and create."""
        if self.dated:
            return f"/crm/objects/{self.version}/{object_type}"
        return f"/crm/v3/objects/{object_type}"

    def batch(self, object_type: str, action: str) -> str:
        """``…/{type}/batch/{action}``: ``upsert``, ``update``, ``create``, ``read``,
        ``archive``, at most 100 inputs a request."""
        return f"{self.objects(object_type)}/batch/{action}"

    def search(self, object_type: str) -> str:
        """``POST …/{type}/search``: filtered reads, paged with ``after`` (for a source)."""
        return f"{self.objects(object_type)}/search"

    def merge(self, object_type: str) -> str:
        """``POST …/{type}/merge`` with ``primaryObjectId`` and ``objectIdToMerge``."""
        return f"{self.objects(object_type)}/merge"

    def subscription(self, action: str) -> str:
        """``POST /communication-preferences/v3/{subscribe|unsubscribe}``: an address's
        status for one subscription type. The same path under every API version."""
        return f"/communication-preferences/v3/{action}"

    def gdpr_delete(self) -> str:
        """``POST …/contacts/gdpr-delete``: a contact erased for good."""
        return f"{self.objects('contacts')}/gdpr-delete"

    def associations(self, from_type: str, to_type: str, action: str) -> str:
        """``POST /crm/v4/associations/{from}/{to}/batch/{action}``: ``create``,
        ``archive``, ``read``, ``associate/default``."""
        if self.dated:
            return f"/crm/associations/{self.version}/{from_type}/{to_type}/batch/{action}"
        return f"/crm/v4/associations/{from_type}/{to_type}/batch/{action}"

    def properties(self, object_type: str) -> str:
        """``/crm/v3/properties/{type}``: the portal's property definitions."""
        if self.dated:
            return f"/crm/properties/{self.version}/{object_type}"
        return f"/crm/v3/properties/{object_type}"
