"""What resolution takes in: the identifiers one record carried (:class:`Evidence`)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

#: An identifier as resolution handles it: ``(type, normalized value)``.
Key = tuple[str, str]


class IdentifierLike(Protocol):
    """Anything with a type and an already-normalized value (``spokehub_contracts.Identifier``)."""

    @property
    def type(self) -> str: ...

    @property
    def value(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Evidence:
    """One record's identifiers, as seen by resolution.

    ``identifiers`` must already be normalized (``Identifier`` does so on construction);
    ``observed_at`` should be timezone-aware (naive values are taken as UTC).
    """

    record_id: str
    connection: str
    observed_at: datetime
    identifiers: Sequence[IdentifierLike]
