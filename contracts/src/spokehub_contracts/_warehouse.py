"""Warehouse names: how the hub's data lands in SQL tables and columns.

One set of rules, shared by ``spokehub contract export`` (which writes the tables the data
contract declares) and by every warehouse destination (which creates them as data
arrives), so that BI and marketing read the same names. They follow Segment's warehouse
connector: ``persons`` and ``accounts`` for the two kinds of traits, ``tracks`` for every
event, and one table per event named after it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

#: The table of people, one row per hub contact ID.
PERSONS_TABLE = "persons"
#: The table of accounts (organisations), one row per account ID.
ACCOUNTS_TABLE = "accounts"
#: The table of every event, with its properties as one object.
TRACKS_TABLE = "tracks"
#: The columns every event table starts with, ``tracks`` and the per-event tables alike.
EVENT_COLUMNS = ("id", "contact_id", "user_id", "anonymous_id", "event", "timestamp", "received_at")

_NOT_NAME = re.compile(r"[^a-z0-9]+")


def warehouse_name(name: str) -> str:
    """The table or column name for ``name``: lower case, every run of other characters
    one underscore, none at either end (``Order Completed`` → ``order_completed``);
    ``event`` for a name with nothing left."""
    return _NOT_NAME.sub("_", name.strip().lower()).strip("_") or "event"


def warehouse_columns(keys: Iterable[str], taken: Iterable[str] = ()) -> dict[str, str]:
    """The column of each of ``keys`` (trait or property names), in sorted key order.

    A key whose name is already ``taken`` (a table's own columns, or an earlier key that
    names the same column) gets none: it is left out of the result, so two keys never
    write one column.
    """
    used = set(taken)
    columns: dict[str, str] = {}
    for key in sorted(keys):
        column = warehouse_name(key)
        if column in used:
            continue
        used.add(column)
        columns[key] = column
    return columns
