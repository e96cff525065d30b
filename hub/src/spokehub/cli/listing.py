"""A list command's answer: its items as JSON, or as a table."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from rich.table import Table

from .context import out

if TYPE_CHECKING:
    from pydantic import BaseModel

ItemT = TypeVar("ItemT", bound="BaseModel")


def print_listing(
    items: Sequence[ItemT],
    *,
    as_json: bool,
    title: str,
    columns: Sequence[str],
    row: Callable[[ItemT], Sequence[str]],
) -> None:
    """``items`` as a JSON list (``--json``), or as a table of ``columns`` with ``row``'s
    cells for each."""
    if as_json:
        out.print_json(data=[item.model_dump(mode="json") for item in items])
        return
    table = Table(title=title)
    for column in columns:
        table.add_column(column)
    for item in items:
        table.add_row(*row(item))
    out.print(table)
