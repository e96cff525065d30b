"""The ad account's audiences: found by name, created when missing, and lookalikes made
from them, under ``act_{ad_account_id}/customaudiences``."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator
from typing import Any

from spokehub_contracts import PermanentError, SpokeClient, TransientError

from ._config import MetaAudiencesConfig

#: How many audiences one page of the ad account's list asks for.
PAGE_SIZE = 100
#: Meta's bounds for a lookalike's size, as a share of the country's population.
MIN_RATIO, MAX_RATIO = 0.01, 0.20

_COUNTRY = re.compile(r"^[A-Z]{2}$")


class AudienceDirectory:
    """Custom Audience ids by the hub's audience names, for one connection.

    A name resolves to the id the config maps it to, else to the ad account's Custom
    Audience of that name (the first one Meta lists, should there be several), else to a
    new one created with that name (``subtype=CUSTOM`` and the config's
    ``customer_file_source``). Ids are kept for the life of the spoke; one lock per name
    makes concurrent writers create an audience once.
    """

    def __init__(self, client: SpokeClient, config: MetaAudiencesConfig) -> None:
        self.client = client
        self.config = config
        self._ids: dict[str, str] = dict(config.audiences)
        self._locks: dict[str, asyncio.Lock] = {}

    async def resolve(self, name: str) -> str:
        """The Custom Audience id for hub audience ``name``, created if there is none."""
        if name in self._ids:
            return self._ids[name]
        lock = self._locks.setdefault(name, asyncio.Lock())
        async with lock:
            if name not in self._ids:
                found = await self.find(name, "CUSTOM")
                self._ids[name] = found or await self._create_custom(name)
            return self._ids[name]

    def forget_id(self, name: str) -> None:
        """Drop what ``name`` resolved to (Meta refused it): the next write looks again.
        An id the config maps the name to stays."""
        if name not in self.config.audiences:
            self._ids.pop(name, None)

    async def find(self, name: str, subtype: str) -> str | None:
        """The id of the ad account's audience named ``name`` of ``subtype``, if any."""
        async for audience in self.listing():
            if audience.get("name") == name and audience.get("subtype") == subtype:
                return str(audience["id"])
        return None

    async def listing(self) -> AsyncIterator[dict[str, Any]]:
        """Every audience of the ad account (``id``, ``name``, ``subtype``), page by page,
        following Graph's ``after`` cursor until a page has no ``next``."""
        params: dict[str, Any] = {"fields": "id,name,subtype", "limit": PAGE_SIZE}
        while True:
            response = await self.client.get(
                f"{self.config.account_path}/customaudiences", params=params
            )
            try:
                body = response.json()
                page = list(body["data"])
                paging = body.get("paging") or {}
            except (ValueError, KeyError, TypeError, AttributeError):
                raise TransientError("Graph answered the audience list without its JSON") from None
            for audience in page:
                if isinstance(audience, dict) and "id" in audience:
                    yield audience
            after = (paging.get("cursors") or {}).get("after")
            if not paging.get("next") or not after:
                return
            params = {**params, "after": after}

    async def create_lookalike(
        self, name: str, seed: str, *, country: str, ratio: float = 0.01
    ) -> str:
        """The id of the lookalike audience ``name`` of hub audience ``seed`` in
        ``country``: the existing one of that name, or a new one
        (``subtype=LOOKALIKE``, ``origin_audience_id``, ``lookalike_spec``).

        :param country: ISO 3166 alpha-2 code of the country to find similar people in.
        :param ratio: the lookalike's size as a share of the country, 0.01 (the most
            similar 1%) to 0.20.
        :raises ValueError: for a country or a ratio Meta would refuse.
        :raises PermanentError: when the ad account has no Custom Audience for ``seed``.
        """
        country = country.strip().upper()
        if not _COUNTRY.match(country):
            raise ValueError("country: must be an ISO 3166 alpha-2 code such as US or DE")
        if not MIN_RATIO <= ratio <= MAX_RATIO:
            raise ValueError(f"ratio: must be between {MIN_RATIO} and {MAX_RATIO}")
        existing = await self.find(name, "LOOKALIKE")
        if existing is not None:
            return existing
        origin = self.config.audiences.get(seed) or self._ids.get(seed)
        origin = origin or await self.find(seed, "CUSTOM")
        if origin is None:
            raise PermanentError(
                f"no Custom Audience for {seed!r} in ad account act_{self.config.ad_account_id}:"
                " a lookalike needs a seed audience with people in it"
            )
        spec = {"ratio": ratio, "country": country}
        return await self._create(
            name=name,
            subtype="LOOKALIKE",
            origin_audience_id=origin,
            lookalike_spec=json.dumps(spec),
        )

    async def _create_custom(self, name: str) -> str:
        return await self._create(
            name=name,
            subtype="CUSTOM",
            description="Kept in sync by spokehub",
            customer_file_source=self.config.customer_file_source,
        )

    async def _create(self, **fields: str) -> str:
        # Creating is not idempotent: one attempt, so a lost answer never makes a twin.
        response = await self.client.post(
            f"{self.config.account_path}/customaudiences", data=fields, attempts=1
        )
        try:
            return str(response.json()["id"])
        except (ValueError, KeyError, TypeError):
            raise TransientError("Graph answered the new audience without its id") from None
