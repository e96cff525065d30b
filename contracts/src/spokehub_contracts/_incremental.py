"""An incremental read by last-modified time, as a pull source pages through a vendor's
API that filters on "modified at or after" and pages by cursor."""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from typing import Any


class ModifiedSince:
    """Where an incremental read stands: the time it reads from, the records at that time
    that the last run already read, and the newest time seen with the records at it.

    A vendor's time has a resolution (a second, a millisecond) and "at or after" returns
    the records at ``since`` again: those in ``boundary`` are skipped unless changed. A
    page the vendor serves twice (a record moved while paging) is yielded once: the keys
    of the last two pages are kept. The next run starts at the newest time seen, with the
    records at it as its boundary.
    """

    def __init__(
        self,
        since: str | None = None,
        boundary: Iterable[str] = (),
        *,
        newest: str | None = None,
        newest_ids: Iterable[str] = (),
    ) -> None:
        """``newest`` and ``newest_ids``: what the pages before a resumed cursor found;
        ``since`` and ``boundary`` when starting a query."""
        self.since = since
        self.boundary = set(boundary)
        self.newest = newest if newest is not None else since
        self.newest_ids = set(newest_ids) or set(self.boundary)
        self._recent: tuple[set[Hashable], set[Hashable]] = (set(), set())
        self._page: set[Hashable] = set()

    def fresh(self, record_id: str, modified: str | None, key: Hashable) -> bool:
        """Whether a record of the page is to be yielded: not read by the last run at the
        boundary time, unchanged, nor already on this page or the two before (``key``
        tells a change apart: the record's id and its time as the vendor wrote them).
        A fresh one counts towards the newest time seen."""
        if modified is not None and modified == self.since and record_id in self.boundary:
            return False
        if key in self._page or key in self._recent[0] or key in self._recent[1]:
            return False
        self._page.add(key)
        if modified:
            if self.newest is None or modified > self.newest:
                self.newest, self.newest_ids = modified, {record_id}
            elif modified == self.newest:
                self.newest_ids.add(record_id)
        return True

    def page_read(self) -> None:
        """The page is done: its keys are kept for the two pages to come."""
        self._recent = (self._recent[1], self._page)
        self._page = set()

    def restart_from_newest(self) -> None:
        """Query again from the newest time seen (a vendor that pages no further): the
        records at it become the boundary."""
        self.since, self.boundary = self.newest, set(self.newest_ids)

    def resume_state(self, position: str, value: Any) -> dict[str, Any]:
        """A checkpoint's state within the query: the vendor's ``position`` (its cursor's
        name) and what the pages so far found."""
        return {
            "since": self.since,
            "boundary": sorted(self.boundary),
            position: value,
            "newest": self.newest,
            "newest_ids": sorted(self.newest_ids),
        }

    def next_run_state(self, position: str) -> dict[str, Any]:
        """The checkpoint at the end of the query: the next run starts at the newest time
        seen, with no ``position``."""
        return {"since": self.newest, "boundary": sorted(self.newest_ids), position: None}
