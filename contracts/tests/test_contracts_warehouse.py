"""Warehouse names: one rule for the contract's export and every warehouse destination."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from spokehub_contracts import EVENT_COLUMNS, warehouse_columns, warehouse_name


def test_names_are_segments_warehouse_names() -> None:
    assert warehouse_name("Order Completed") == "order_completed"
    assert warehouse_name("  Loyalty-Tier (2024) ") == "loyalty_tier_2024"
    assert warehouse_name("first_name") == "first_name"
    assert warehouse_name("!!!") == "event"


def test_a_taken_name_gets_no_column_and_the_first_key_in_order_wins() -> None:
    columns = warehouse_columns(["Total", "id", "total", "Order ID"], taken=EVENT_COLUMNS)
    assert columns == {"Order ID": "order_id", "Total": "total"}


@given(st.text(max_size=40))
def test_a_name_is_a_plain_sql_identifier(name: str) -> None:
    column = warehouse_name(name)
    assert column and column.isascii()
    assert column == warehouse_name(column)
    assert all(c.isalnum() or c == "_" for c in column)
    assert not column.startswith("_") and not column.endswith("_")


@given(st.lists(st.text(max_size=12), max_size=12))
def test_no_two_keys_share_a_column(keys: list[str]) -> None:
    columns = warehouse_columns(keys, taken=EVENT_COLUMNS)
    assert len(set(columns.values())) == len(columns)
    assert not set(columns.values()) & set(EVENT_COLUMNS)
